"""deploy/lambda/template.yaml: valid CloudFormation (cfn-lint), and the
settings that make the extension work are there and agree with it: the
layer on the function, DT_ENDPOINT and a DT_API_TOKEN secret the role may
read, the function's SDK sending OTLP/HTTP protobuf to the extension's
default listener with delta metrics.

    python lambda_template_test.py TEMPLATE   (the venv's python: cfn-lint)
"""

import os
import subprocess
import sys

from cfnlint.decode import decode


def main(path):
    cfn_lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    lint = subprocess.run([cfn_lint, path], capture_output=True, text=True)
    assert lint.returncode == 0, f"cfn-lint:\n{lint.stdout}{lint.stderr}"
    template, errors = decode(path)
    assert not errors, errors
    resources = template["Resources"]
    function = resources["OrdersConsumer"]["Properties"]
    env = function["Environment"]["Variables"]
    assert {"Ref": "GatewayLayer"} in function["Layers"], function["Layers"]
    assert resources["GatewayLayer"]["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    assert function["Architectures"] == ["x86_64"]
    assert env["DT_ENDPOINT"] == {"Ref": "DynatraceEndpoint"}
    assert env["DT_API_TOKEN"] == {"Ref": "DynatraceTokenSecretArn"}
    # The extension's default OTLP/HTTP listener (gateway/lambda/extension_config.h).
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] == "delta"
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/otel-instrument"
    statements = [s for p in resources["FunctionRole"]["Properties"]["Policies"]
                  for s in p["PolicyDocument"]["Statement"]]
    assert any(s["Action"] == "secretsmanager:GetSecretValue" and s["Resource"] == {"Ref": "DynatraceTokenSecretArn"}
               for s in statements), statements
    print("template OK")


if __name__ == "__main__":
    main(sys.argv[1])
