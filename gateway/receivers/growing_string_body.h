// A Boost.Beast body for requests read into a std::string that grows as the
// bytes arrive. Beast's own string_body reserves the whole Content-Length as
// soon as the headers are parsed, so a connection that announces 16 MiB and
// then trickles (or sends nothing) would hold 16 MiB of address space, and
// the memory accounting could only trust the announcement. Here the string
// starts at kInitialReserve at most and doubles as it fills (std::string's
// own growth), so what a request has allocated follows what it has sent.
//
//   http::request_parser<GrowingStringBody> parser;
//   ... http::async_read_some(stream, buffer, parser, ...) ...
//   std::string body = std::move(parser.release().body());
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

namespace gateway {

struct GrowingStringBody {
  using value_type = std::string;

  // Enough for most OTLP requests of a few spans in one allocation.
  static constexpr uint64_t kInitialReserve = 4096;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& content_length, boost::beast::error_code& ec) {
      if (content_length) body_.reserve(static_cast<size_t>(std::min(*content_length, kInitialReserve)));
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      const size_t n = boost::asio::buffer_size(buffers);
      const size_t at = body_.size();
      body_.resize(at + n);  // geometric: amortized O(1) a byte
      ec = {};
      return boost::asio::buffer_copy(boost::asio::buffer(body_.data() + at, n), buffers);
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace gateway
