// Secrets by ARN: the AWS JSON API requests libcurl sends, with a Signature
// Version 4 that this test recomputes from AWS's published algorithm
// (OpenSSL HMAC-SHA256), and the answers read back.
#include "gateway/lambda/aws_secrets.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <memory>
#include <vector>

#include <boost/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/receivers/http_server.h"
#include "gtest/gtest.h"
#include "pipeline/base/sync.h"

namespace gateway::lambda {
namespace {

namespace json = ::boost::json;

constexpr char kSecretArn[] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dt-token-AbCdEf";
constexpr char kParameterArn[] = "arn:aws:ssm:eu-west-1:123456789012:parameter/dynatrace/token";
constexpr char kAccessKey[] = "AKIDEXAMPLE";
constexpr char kSecretKey[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// The SigV4 signature of `request` under the Authorization header's own
// credential scope and signed header list (AWS General Reference, "Signature
// Version 4 signing process").
std::string ExpectedSignature(const HttpRequest& request, const std::string& authorization) {
  const std::string credential = authorization.substr(authorization.find("Credential=") + 11,
                                                      authorization.find(',') - authorization.find("Credential=") - 11);
  const std::vector<std::string> scope = absl::StrSplit(credential, '/');  // key/date/region/service/aws4_request
  const size_t sh = authorization.find("SignedHeaders=") + 14;
  const std::string signed_headers = authorization.substr(sh, authorization.find(',', sh) - sh);
  std::string canonical_headers;
  for (absl::string_view name : absl::StrSplit(signed_headers, ';')) {
    canonical_headers += absl::StrCat(name, ":", absl::StripAsciiWhitespace(request.Header(std::string(name))), "\n");
  }
  const std::string canonical_request = absl::StrCat(request.method, "\n", "/", "\n", "", "\n", canonical_headers, "\n",
                                                     signed_headers, "\n", Sha256Hex(request.body));
  const std::string amz_date = request.Header("x-amz-date");
  const std::string scope_text = absl::StrCat(scope[1], "/", scope[2], "/", scope[3], "/aws4_request");
  const std::string to_sign =
      absl::StrCat("AWS4-HMAC-SHA256\n", amz_date, "\n", scope_text, "\n", Sha256Hex(canonical_request));
  std::string key = Hmac(absl::StrCat("AWS4", kSecretKey), scope[1]);
  key = Hmac(key, scope[2]);
  key = Hmac(key, scope[3]);
  key = Hmac(key, "aws4_request");
  return absl::BytesToHexString(Hmac(key, to_sign));
}

// Answers like Secrets Manager / SSM and keeps what it was sent.
class FakeAws final : public HttpHandler {
 public:
  HttpResponse Handle(HttpRequest request) override {
    MutexLock lock(&mu_);
    requests_.push_back(request);
    return {status_, "application/x-amz-json-1.1", body_, {}};
  }
  void Answer(int status, std::string body) {
    MutexLock lock(&mu_);
    status_ = status;
    body_ = std::move(body);
  }
  std::vector<HttpRequest> requests() {
    MutexLock lock(&mu_);
    return requests_;
  }

 private:
  Mutex mu_;
  int status_ ABSL_GUARDED_BY(mu_) = 200;
  std::string body_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
};

class AwsSecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.threads = 1;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = StartHttpServer(options, aws_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    options_.access_key_id = kAccessKey;
    options_.secret_access_key = kSecretKey;
    options_.session_token = "SESSIONTOKEN";
    options_.endpoint_override = absl::StrCat("http://127.0.0.1:", server_->port(), "/");
  }

  FakeAws aws_;
  std::unique_ptr<HttpServer> server_;
  AwsSecretsOptions options_;
};

TEST_F(AwsSecretsTest, PlainValuesAreNotSecrets) {
  EXPECT_EQ(*ResolveSecret("dt0c01.PLAIN", options_), "dt0c01.PLAIN");
  EXPECT_FALSE(IsSecretArn("arn:aws:s3:::bucket/key"));
  EXPECT_TRUE(IsSecretArn(kSecretArn));
  EXPECT_TRUE(IsSecretArn(kParameterArn));
  EXPECT_TRUE(aws_.requests().empty());
}

TEST_F(AwsSecretsTest, ReadsASecretsManagerSecretWithASignedRequest) {
  aws_.Answer(200, R"({"ARN":"x","Name":"dt-token","SecretString":"dt0c01.FROMSECRETS"})");
  absl::StatusOr<std::string> token = ResolveSecret(kSecretArn, options_);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "dt0c01.FROMSECRETS");

  ASSERT_EQ(aws_.requests().size(), 1u);
  const HttpRequest r = aws_.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.Header("x-amz-target"), "secretsmanager.GetSecretValue");
  EXPECT_EQ(r.Header("content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(r.Header("x-amz-security-token"), "SESSIONTOKEN");
  EXPECT_EQ(json::parse(r.body).at("SecretId"), kSecretArn);
  const std::string authorization = r.Header("authorization");
  EXPECT_EQ(authorization.rfind(absl::StrCat("AWS4-HMAC-SHA256 Credential=", kAccessKey, "/"), 0), 0u)
      << authorization;
  EXPECT_NE(authorization.find("/eu-west-1/secretsmanager/aws4_request"), std::string::npos) << authorization;
  const std::string signature = authorization.substr(authorization.find("Signature=") + 10);
  EXPECT_EQ(signature, ExpectedSignature(r, authorization));
}

TEST_F(AwsSecretsTest, ATokenInsideAJsonSecretIsTakenFromItsMember) {
  aws_.Answer(200, R"({"SecretString":"{\"DT_API_TOKEN\":\"dt0c01.INJSON\",\"other\":\"x\"}"})");
  EXPECT_EQ(*ResolveSecret(kSecretArn, options_), "dt0c01.INJSON");
}

TEST_F(AwsSecretsTest, ReadsAnSsmParameterDecrypted) {
  aws_.Answer(200, R"({"Parameter":{"Name":"/dynatrace/token","Type":"SecureString","Value":"dt0c01.FROMSSM"}})");
  absl::StatusOr<std::string> token = ResolveSecret(kParameterArn, options_);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "dt0c01.FROMSSM");
  const HttpRequest r = aws_.requests()[0];
  EXPECT_EQ(r.Header("x-amz-target"), "AmazonSSM.GetParameter");
  json::value body = json::parse(r.body);
  EXPECT_EQ(body.at("Name"), kParameterArn);
  EXPECT_EQ(body.at("WithDecryption"), true);
  const std::string authorization = r.Header("authorization");
  EXPECT_NE(authorization.find("/eu-west-1/ssm/aws4_request"), std::string::npos) << authorization;
  EXPECT_EQ(authorization.substr(authorization.find("Signature=") + 10), ExpectedSignature(r, authorization));
}

TEST_F(AwsSecretsTest, AnAwsErrorNamesItsTypeButNotTheSecret) {
  aws_.Answer(400, R"({"__type":"AccessDeniedException","Message":"not allowed"})");
  absl::StatusOr<std::string> token = ResolveSecret(kSecretArn, options_);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(std::string(token.status().message()), "secretsmanager: HTTP 400 AccessDeniedException");
}

TEST_F(AwsSecretsTest, BinarySecretsAndMissingCredentialsAreErrors) {
  aws_.Answer(200, R"({"SecretBinary":"AAEC"})");
  EXPECT_FALSE(ResolveSecret(kSecretArn, options_).ok());
  options_.access_key_id.clear();
  absl::StatusOr<std::string> token = ResolveSecret(kSecretArn, options_);
  ASSERT_FALSE(token.ok());
  EXPECT_NE(std::string(token.status().message()).find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

}  // namespace
}  // namespace gateway::lambda
