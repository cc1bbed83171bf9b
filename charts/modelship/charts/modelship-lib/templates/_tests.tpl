{{/* Pieces of the `helm test` pods of the modelship services. */}}

{{/*
Labels of a chart's test pod: name <name>-test (so no selector of the chart picks it up), instance, component test.
Takes the chart's context.
*/}}
{{- define "modelship-lib.testLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "modelship-lib.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Python (standard library only) that GETs every URL of $CHECKS (JSON {name: url}) until each answers 2xx with a body
holding $EXPECT[name] (JSON {name: text}, optional), retrying for $TIMEOUT_SECONDS; exits 1 naming what failed.
*/}}
{{- define "modelship-lib.httpChecks" -}}
import json, os, sys, time, urllib.request
checks = json.loads(os.environ["CHECKS"])
expect = json.loads(os.environ.get("EXPECT") or "{}")
deadline = time.monotonic() + float(os.environ["TIMEOUT_SECONDS"])
pending = dict(checks)
while True:
    for name, url in list(pending.items()):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read().decode(errors="replace")
            if expect.get(name, "") in body:
                print(f"ok   {name}: {url}", flush=True)
                del pending[name]
            else:
                print(f"wait {name}: {url} answered without {expect[name]!r}", flush=True)
        except Exception as error:  # noqa: BLE001 - report and retry
            print(f"wait {name}: {url} ({type(error).__name__}: {error})", flush=True)
    if not pending or time.monotonic() >= deadline:
        break
    time.sleep(3)
for name, url in pending.items():
    print(f"FAIL {name}: {url} did not answer in time", flush=True)
sys.exit(1 if pending else 0)
{{- end }}
