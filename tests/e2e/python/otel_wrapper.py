"""The Lambda entry point `otel_wrapper.handler`, as the OpenTelemetry
Lambda layer's wrapper does it: set up the SDK, instrument botocore and the
Lambda handler named by ORIG_HANDLER (opentelemetry-instrumentation-aws-lambda
wraps it in place), then hand the wrapped function to the runtime
(awslambdaric, started by the Runtime Interface Emulator).

Environment: ORIG_HANDLER (module.function in this directory),
AWS_LAMBDA_FUNCTION_NAME (set by the test; the emulator passes it on), and
E2E_OTLP_PROTOCOL, E2E_OTLP_ENDPOINT, E2E_RECORD for telemetry.setup_from_env.
"""

import os
from importlib import import_module

import telemetry

provider = telemetry.setup_from_env(os.environ["AWS_LAMBDA_FUNCTION_NAME"])

from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor  # noqa: E402
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # noqa: E402

BotocoreInstrumentor().instrument(tracer_provider=provider)
AwsLambdaInstrumentor().instrument(tracer_provider=provider)

_module, _function = os.environ["ORIG_HANDLER"].rsplit(".", 1)
handler = getattr(import_module(_module), _function)
