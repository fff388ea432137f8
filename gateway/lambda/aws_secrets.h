// Reads a secret named by ARN from AWS Secrets Manager (GetSecretValue) or
// SSM Parameter Store (GetParameter, decrypted), signing the request with
// libcurl's AWS Signature Version 4 (CURLOPT_AWS_SIGV4) and the function's
// credentials from the environment: no AWS SDK.
//
//   AwsSecretsOptions options = AwsSecretsOptionsFromEnv(ProcessEnv());
//   absl::StatusOr<std::string> token = ResolveSecret(
//       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dt-token-AbCdEf", options);
//
// A Secrets Manager secret is its SecretString; when that is a JSON object
// with a "DT_API_TOKEN" member, that member. Binary secrets are refused.
// The function's role needs secretsmanager:GetSecretValue or
// ssm:GetParameter (and kms:Decrypt for a SecureString under a customer key).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"

namespace gateway::lambda {

struct AwsSecretsOptions {
  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (Lambda sets
  // them for the function's role).
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // GATEWAY_AWS_ENDPOINT_URL: replaces https://{service}.{region}.amazonaws.com
  // (tests, VPC endpoints with private DNS off).
  std::string endpoint_override;
  absl::Duration timeout = absl::Seconds(5);
};

AwsSecretsOptions AwsSecretsOptionsFromEnv(const EnvLookup& env);

// True for arn:<partition>:secretsmanager:... and arn:<partition>:ssm:...
bool IsSecretArn(const std::string& value);

// `value` itself unless IsSecretArn(value); then the secret it names. Errors
// name the ARN's service and the AWS error type, never the secret.
absl::StatusOr<std::string> ResolveSecret(const std::string& value, const AwsSecretsOptions& options);

}  // namespace gateway::lambda
