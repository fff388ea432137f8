#include "gateway/receivers/tls_server_context.h"

#include <utility>

#include <boost/system/error_code.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gateway {

namespace asio = boost::asio;

absl::StatusOr<asio::ssl::context> NewTlsServerContext(const std::string& cert_path, const std::string& key_path) {
  asio::ssl::context ssl(asio::ssl::context::tls_server);
  ssl.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ssl.use_certificate_chain_file(cert_path, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS certificate ", cert_path, ": ", ec.message()));
  // OpenSSL refuses a key that does not match the certificate here.
  ssl.use_private_key_file(key_path, asio::ssl::context::pem, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS key ", key_path, ": ", ec.message()));
  return ssl;
}

}  // namespace gateway
