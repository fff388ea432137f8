// The server side of TLS for the HTTP listeners: a Boost.Asio SSL context
// holding a PEM certificate chain and its private key, TLS 1.2 and later.
//
//   absl::StatusOr<boost::asio::ssl::context> ssl = NewTlsServerContext(cert_path, key_path);
//   if (!ssl.ok()) return ssl.status();
//   boost::asio::ssl::stream<tcp::socket&> stream(socket, *ssl);
#pragma once

#include <string>

#include <boost/asio/ssl/context.hpp>

#include "absl/status/statusor.h"

namespace gateway {

// Reads the certificate chain and the key (unencrypted PEM) and checks that
// they belong together. InvalidArgument naming the file that is unreadable
// or does not fit. The context may be shared by connections on any thread.
absl::StatusOr<boost::asio::ssl::context> NewTlsServerContext(const std::string& cert_path,
                                                             const std::string& key_path);

}  // namespace gateway
