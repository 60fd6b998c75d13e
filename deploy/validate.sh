#!/usr/bin/env bash
# Offline validation of everything under deploy/ (the CI entry point; no cluster needed):
#   - kubectl kustomize renders deploy/kubernetes, its minimal overlay and deploy/examples;
#   - every rendered object validates against Kubernetes' schemas (kubernetes-validate, pinned
#     version, strict); ModelExecutors against the CRD's openAPIV3Schema
#     (check_custom_resources.py); cert-manager and Prometheus Operator kinds are skipped with a
#     note (no schema offline);
#   - promtool check config / check rules / test rules, the PrometheusRule matches alerts.yml;
#   - the dashboard JSON parses, its ConfigMap carries it, and every metric name in its PromQL
#     and in the alerts is exported by the code (check_dashboard_metrics.py);
#   - gen-webhook-cert.sh makes a certificate that verifies, its Secret and caBundle patch apply;
#   - docker compose config, the Dockerfile's packages exist in the workspace, shell syntax.
#
# Usage (from anywhere; idempotent; installs missing tools with pip/apt):
#   bash deploy/validate.sh            # metric check falls back to deploy/metrics-contract.txt
#   bash deploy/validate.sh --strict   # for components whose crate exports no metric yet: fail
# Last line: "deploy: N passed, M failed"; exit status 1 if anything failed.
# shellcheck disable=SC2016  # the bash -c '...' snippets expand their own "$1" arguments
set -euo pipefail

K8S_VERSION=1.32.0                 # Kubernetes schema version the manifests must satisfy
KUBERNETES_VALIDATE_VERSION=1.37.0 # PyPI kubernetes-validate (ships schemas 1.32 … 1.37)
SKIPPED_KINDS='^(cert-manager\.io/v1/(Certificate|Issuer)|monitoring\.coreos\.com/v1/(PodMonitor|PrometheusRule))$'

strict=""
for arg in "$@"; do
  case "$arg" in
    --strict) strict="--strict" ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "validate.sh: unknown argument '$arg' (use --strict or --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
failures=()

# check NAME COMMAND...: runs COMMAND, counts it, shows its output when it fails.
check() {
  local name=$1; shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL $name"
    sed 's/^/     /' "$work/out"
  fi
}
note() { echo "note $*"; }

# --- tools ------------------------------------------------------------------------------------
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || return 1
  if [[ $apt_updated -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
python_has() { python3 -c "import $1" >/dev/null 2>&1; }

command -v python3 >/dev/null || apt_install python3 python3-pip || true
if ! command -v kubernetes-validate >/dev/null; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (pip)"
  python3 -m pip install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >/dev/null 2>&1 \
    || python3 -m pip install -q --break-system-packages "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >/dev/null
fi
for module in yaml:pyyaml jsonschema:jsonschema; do
  python_has "${module%%:*}" || python3 -m pip install -q "${module#*:}" >/dev/null 2>&1 \
    || python3 -m pip install -q --break-system-packages "${module#*:}" >/dev/null
done
if ! command -v promtool >/dev/null; then
  echo "installing promtool (apt package prometheus)"
  apt_install prometheus || true
fi
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null || apt_install docker-compose; then
  compose=(docker-compose)
fi
command -v kubectl >/dev/null || { echo "validate.sh: kubectl (with kustomize) is required" >&2; exit 1; }

echo "tools: $(kubectl version --client 2>/dev/null | tr '\n' ' ')| kubernetes-validate $(kubernetes-validate --version) (schemas $K8S_VERSION)" \
  "| $(promtool --version 2>/dev/null | head -1 || echo 'promtool missing')"

# --- Kubernetes manifests ---------------------------------------------------------------------
crd=deploy/kubernetes/base/crd.yaml
if grep -q '^# PLACEHOLDER' "$crd" 2>/dev/null; then
  note "$crd is the deploy placeholder, not yet the controller's generated CRD"
fi

# validate_rendering NAME DIR: render DIR, validate each object.
validate_rendering() {
  local name=$1 dir=$2 out="$work/$1"
  mkdir -p "$out"
  check "kustomize renders $dir" kubectl kustomize "$dir" -o "$out/all.yaml" || true
  [[ -s "$out/all.yaml" ]] || return 0
  # One file per object, named apiVersion_kind_namespace_name.
  python3 - "$out" <<'PY'
import sys, yaml
out = sys.argv[1]
for i, doc in enumerate(d for d in yaml.safe_load_all(open(f"{out}/all.yaml")) if d):
    meta = doc.get("metadata", {})
    key = "_".join([doc["apiVersion"].replace("/", "~"), doc["kind"], meta.get("namespace", "-"), meta["name"]])
    with open(f"{out}/{i:03d}_{key}.yaml", "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
PY
  local file base api kind ns obj
  for file in "$out"/[0-9][0-9][0-9]_*.yaml; do
    base=$(basename "$file" .yaml); base=${base#*_}
    IFS=_ read -r api kind ns obj <<<"$base"
    api=${api//\~//}
    if [[ "$api/$kind" =~ $SKIPPED_KINDS ]]; then
      note "$name: $kind $ns/$obj not schema-checked (CRD of cert-manager / Prometheus Operator; no schema offline)"
    elif [[ "$api" == mulambda.io/* ]]; then
      check "$name: $kind $ns/$obj matches the CRD schema" \
        python3 deploy/check_custom_resources.py --crd "$crd" "$file"
    else
      check "$name: $kind $ns/$obj valid for Kubernetes $K8S_VERSION" \
        kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$file"
    fi
  done
}

validate_rendering default deploy/kubernetes
validate_rendering minimal deploy/kubernetes/overlays/minimal
validate_rendering examples deploy/examples

check "CRD schemas are valid JSON Schemas, one storage version" \
  python3 deploy/check_custom_resources.py --crd "$crd"

# Facts the pieces rely on, checked on the rendered default installation.
check "rendered installation keeps the contracts (ports, names, selectors, probes)" python3 - "$work/default/all.yaml" <<'PY'
import sys, yaml
docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
def need(cond, msg):
    if not cond:
        raise SystemExit("contract broken: " + msg)
dep = docs[("Deployment", "mulambda-controller")]
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
need(ports == {"webhook": 8443, "admin": 9903}, f"controller ports {ports}")
need(c["image"] == "ghcr.io/mulambda/mulambda:0.1.0", "controller image")
need(c["command"] == ["mulambda-controller"] and c["args"] == ["run"], "controller command")
need(c["livenessProbe"]["httpGet"]["path"] == "/live" and c["readinessProbe"]["httpGet"]["path"] == "/ready", "probes")
need(any(m["mountPath"] == "/etc/mulambda/tls" for m in c["volumeMounts"]), "TLS mount")
strategy = dep["spec"]["strategy"]
need(dep["spec"]["replicas"] >= 2, "at least two webhook replicas")
need(strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0, "rolling update that keeps every replica until its successor runs")
pdb = docs[("PodDisruptionBudget", "mulambda-controller")]
need(pdb["spec"]["minAvailable"] >= 1, "PodDisruptionBudget keeps a replica")
need(pdb["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(), "PodDisruptionBudget selects the controller's pods")
env = {e["name"]: e.get("value") for e in c["env"]}
lease_role = docs[("Role", "mulambda-controller-leader-election")]
lease_rules = {(g, r, v, tuple(rule.get("resourceNames", []))) for rule in lease_role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
need(lease_rules == {("coordination.k8s.io", "leases", "create", ()), ("coordination.k8s.io", "leases", "get", (env["MULAMBDA_LEADER_LEASE"],)), ("coordination.k8s.io", "leases", "update", (env["MULAMBDA_LEADER_LEASE"],))}, f"leader-election Role grants exactly the Lease: {sorted(lease_rules)}")
binding = docs[("RoleBinding", "mulambda-controller-leader-election")]
need(binding["roleRef"]["name"] == "mulambda-controller-leader-election" and binding["subjects"][0]["name"] == pod["serviceAccountName"], "leader-election RoleBinding")
need(any(e["name"] == "MULAMBDA_POD_NAME" for e in c["env"]) and any(e["name"] == "MULAMBDA_POD_NAMESPACE" for e in c["env"]), "the Lease identity and namespace come from the pod")
known = open("controller/src/well_known.rs").read()
for var, const in (("MULAMBDA_INTERCEPT_IMAGE", "DEFAULT_INTERCEPT_IMAGE"), ("MULAMBDA_TRITON_IMAGE", "DEFAULT_TRITON_IMAGE"), ("MULAMBDA_MLSERVER_IMAGE", "DEFAULT_MLSERVER_IMAGE"), ("MULAMBDA_KSERVE_IMAGE", "DEFAULT_KSERVE_IMAGE")):
    need(f'{const}: &str = "{env[var]}"' in known, f"{var} {env[var]} is the controller's {const}")
need(env["MULAMBDA_SIDECAR_MODE"] in ("native", "container"), "sidecar mode")
sc = c["securityContext"]
need(sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and pod["securityContext"]["runAsNonRoot"], "securityContext")
svc = docs[("Service", "mulambda-webhook")]
need(svc["spec"]["ports"][0]["port"] == 443 and svc["spec"]["ports"][0]["targetPort"] == "webhook", "webhook Service 443->webhook")
mwc = docs[("MutatingWebhookConfiguration", "mulambda-sidecar-injector")]
w = mwc["webhooks"][0]
need(w["failurePolicy"] == "Ignore" and w["sideEffects"] == "None" and w["timeoutSeconds"] == 5, "webhook policy")
need(w["clientConfig"]["service"] == {"name": "mulambda-webhook", "namespace": "mulambda-system", "path": "/mutate", "port": 443}, "webhook clientConfig")
need(w["namespaceSelector"] == {"matchLabels": {"mulambda.io/inject": "true"}}, "namespaceSelector")
need(w["rules"][0]["operations"] == ["CREATE"] and w["rules"][0]["resources"] == ["pods"], "rules")
need(mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "mulambda-system/mulambda-webhook", "CA injection")
cert = docs[("Certificate", "mulambda-webhook")]
need(cert["spec"]["secretName"] == pod["volumes"][0]["secret"]["secretName"], "Certificate secret = mounted secret")
need("mulambda-webhook.mulambda-system.svc" in cert["spec"]["dnsNames"], "Certificate DNS name")
role = docs[("ClusterRole", "mulambda-controller")]
granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
allowed = {("mulambda.io", "modelexecutors", v) for v in ("get", "list", "watch")} \
        | {("mulambda.io", "modelexecutors/status", v) for v in ("get", "patch", "update")} \
        | {(g, r, v) for g, r in (("apps", "deployments"), ("", "services")) for v in ("get", "list", "watch", "create", "patch", "update")} \
        | {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
need(granted <= allowed, f"RBAC grants more than needed: {sorted(granted - allowed)}")
need(("mulambda.io", "modelexecutors", "watch") in granted, "RBAC misses modelexecutors watch")
for kind, name in (("Deployment", "mulambda-controller"), ("StatefulSet", "dragonfly"), ("Deployment", "minio")):
    labels = docs[(kind, name)]["spec"]["template"]["metadata"]["labels"]
    need(labels.get("app.kubernetes.io/part-of") == "mulambda", f"{name} pods not excluded from injection")
ss = docs[("StatefulSet", "dragonfly")]
need(any(a.startswith("--requirepass=$(") for a in ss["spec"]["template"]["spec"]["containers"][0]["args"]), "dragonfly password")
need({p["port"] for p in docs[("Service", "minio")]["spec"]["ports"]} == {9000, 9001}, "minio ports")
need(docs[("Service", "dragonfly")]["spec"]["ports"][0]["port"] == 6379, "dragonfly port")
pm = {d["metadata"]["name"]: d["spec"]["podMetricsEndpoints"][0]["port"] for (k, _), d in docs.items() if k == "PodMonitor"}
need(pm == {"mulambda-proxy": "mulambda-admin", "mulambda-companion": "companion-admin", "mulambda-controller": "admin"}, f"PodMonitor ports {pm}")
cm = docs[("ConfigMap", "mulambda-grafana-dashboard")]
need(cm["metadata"]["labels"].get("grafana_dashboard") == "1", "dashboard ConfigMap label")
need(cm["data"]["mulambda-dashboard.json"] == open("deploy/grafana/mulambda-dashboard.json").read(), "dashboard ConfigMap content")
print("contracts hold")
PY

check "examples: clients are opted in with valid criteria annotations" python3 - "$work/examples/all.yaml" <<'PY'
import re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
names = open("catalog/src/names.rs").read()
block = re.search(r"pub mod annotations \{(.*?)\n\}", names, re.S).group(1)
known = set(re.findall(r'"(mulambda\.io/[a-z-]+)"', block))
ns = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
clients = [d for d in docs if d["kind"] == "Deployment"]
assert len(clients) == 2, [c["metadata"]["name"] for c in clients]
execs = [d for d in docs if d["kind"] == "ModelExecutor"]
policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
selected = set(policy["spec"]["podSelector"]["matchExpressions"][0]["values"])
for client in clients:
    name = client["metadata"]["name"]
    ann = client["spec"]["template"]["metadata"]["annotations"]
    bad = sorted(a for a in ann if a.startswith("mulambda.io/") and a not in known)
    if bad:
        raise SystemExit(f"{name}: annotations not in catalog/src/names.rs: {bad}")
    assert ann["mulambda.io/inject"] == "true", name
    assert ns[client["metadata"]["namespace"]]["metadata"]["labels"]["mulambda.io/inject"] == "true", name
    for key in ("mulambda.io/latency-weight", "mulambda.io/accuracy-weight", "mulambda.io/max-latency-ms"):
        assert float(ann[key]) >= 0, (name, key)
    assert 0 <= float(ann["mulambda.io/min-accuracy"]) <= 1, name
    assert ann.get("mulambda.io/sidecar-mode", "native") in ("native", "container"), name
    if "mulambda.io/intercept-ports" in ann:
        ports = [p.split("/")[0] for p in ann["mulambda.io/intercept-ports"].split(",")]
        assert all(0 < int(p) < 65536 for p in ports), (name, ports)
        assert not client["spec"]["template"]["spec"].get("hostNetwork"), name
    assert len(execs) == 2 and all(e["spec"]["modelType"] == ann["mulambda.io/model-type"] for e in execs), name
    assert client["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] in selected, f"{name} not under the NetworkPolicy"
    print(f"{name}: {len(ann)} annotations, all known")
assert any("mulambda.io/intercept-ports" in c["spec"]["template"]["metadata"]["annotations"] for c in clients), "an intercepted client"
PY
check "examples: ModelExecutors on other runtimes match the CRD schema" \
  python3 deploy/check_custom_resources.py --crd "$crd" deploy/examples/other-runtimes.yaml

# --- webhook certificate without cert-manager -------------------------------------------------
check "gen-webhook-cert.sh: certificate verifies and names the Service" bash -c '
  set -euo pipefail
  deploy/kubernetes/gen-webhook-cert.sh --dry-run --out-dir "$1/cert" >/dev/null
  openssl verify -CAfile "$1/cert/ca.crt" "$1/cert/tls.crt"
  openssl x509 -in "$1/cert/tls.crt" -noout -ext subjectAltName | grep -q "DNS:mulambda-webhook.mulambda-system.svc,"
  openssl x509 -in "$1/cert/tls.crt" -noout -ext extendedKeyUsage | grep -q "TLS Web Server Authentication"
  [[ "$(openssl pkey -in "$1/cert/tls.key" -pubout)" == "$(openssl x509 -in "$1/cert/tls.crt" -noout -pubkey)" ]]
' _ "$work"
check "gen-webhook-cert.sh: Secret valid for Kubernetes $K8S_VERSION" \
  kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$work/cert/secret.yaml"
check "gen-webhook-cert.sh: caBundle patch applies to the rendered webhook configuration" bash -c '
  set -euo pipefail
  f=$(ls "$1"/minimal/*MutatingWebhookConfiguration*.yaml)
  kubectl patch --local -f "$f" --type=json --patch-file "$1/cert/webhook-patch.json" -o yaml >"$1/patched-webhook.yaml"
  kubernetes-validate --strict --quiet -k "$2" "$1/patched-webhook.yaml"
  grep -q "caBundle: $(base64 <"$1/cert/ca.crt" | tr -d "\n")" "$1/patched-webhook.yaml"
' _ "$work" "$K8S_VERSION"

# --- Prometheus -------------------------------------------------------------------------------
if command -v promtool >/dev/null; then
  check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
  check "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
  # Debian's promtool is built without Kubernetes service discovery: where it rejects
  # kubernetes_sd_configs, check the file with those blocks swapped for static targets (all else
  # — relabelling, regexes, rule files — is checked as is) and check the SD blocks by hand.
  if promtool check config deploy/prometheus/prometheus.yml >"$work/promtool.out" 2>&1; then
    passed=$((passed + 1)); echo "ok   promtool check config deploy/prometheus/prometheus.yml"
  elif grep -q "field kubernetes_sd_configs not found" "$work/promtool.out"; then
    note "this promtool ($(promtool --version 2>&1 | head -1 | cut -d' ' -f3)) has no Kubernetes service discovery (Debian build); checking prometheus.yml with static targets in place of kubernetes_sd_configs"
    check "promtool check config deploy/prometheus/prometheus.yml (kubernetes_sd_configs swapped)" bash -c '
      set -euo pipefail
      mkdir -p "$1/prom" && cp deploy/prometheus/alerts.yml "$1/prom/"
      python3 - deploy/prometheus/prometheus.yml "$1/prom/prometheus.yml" <<"PY"
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for job in config["scrape_configs"]:
    sds = job.pop("kubernetes_sd_configs", None)
    if sds is None:
        continue
    name = job["job_name"]
    for sd in sds:
        unknown = set(sd) - {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata", "tls_config", "authorization", "basic_auth", "oauth2", "follow_redirects", "enable_http2", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header"}
        assert not unknown, f"{name}: unknown kubernetes_sd_configs keys {unknown}"
        role = sd.get("role")
        assert role in {"pod", "service", "endpoints", "endpointslice", "node", "ingress"}, f"{name}: role {role}"
    job["static_configs"] = [{"targets": ["placeholder.invalid:9901"]}]
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
PY
      promtool check config "$1/prom/prometheus.yml"
    ' _ "$work"
  else
    failed=$((failed + 1)); failures+=("promtool check config deploy/prometheus/prometheus.yml")
    echo "FAIL promtool check config deploy/prometheus/prometheus.yml"; sed 's/^/     /' "$work/promtool.out"
  fi
  check "promtool check config deploy/compose/prometheus.yml" bash -c '
    set -euo pipefail
    mkdir -p "$1/compose-prom"
    cp deploy/compose/prometheus.yml deploy/prometheus/alerts.yml "$1/compose-prom/"
    promtool check config "$1/compose-prom/prometheus.yml"
  ' _ "$work"
else
  failed=$((failed + 1)); failures+=("promtool (not installed, apt-get install prometheus failed)")
  echo "FAIL promtool not available (apt-get install -y prometheus failed or apt-get missing)"
fi
check "PrometheusRule matches deploy/prometheus/alerts.yml" python3 deploy/prometheus/gen-prometheusrule.py --check

# --- Grafana ----------------------------------------------------------------------------------
check "dashboard JSON parses and is well-formed" python3 - deploy/grafana/mulambda-dashboard.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["uid"] and d["title"] and isinstance(d["schemaVersion"], int)
panels = [p for p in d["panels"] if p["type"] != "row"]
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
for p in panels:
    assert p["targets"] and all(t.get("expr") for t in p["targets"]), p["title"]
    assert p["datasource"]["uid"] == "${datasource}", p["title"]
    g = p["gridPos"]; assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
titles = " | ".join(p["title"] for p in panels).lower()
for needed in ("request rate", "errors", "p50 / p99", "selection outcomes", "snapshot age", "probe latency", "executor readiness"):
    assert needed in titles, f"no panel for {needed!r}"
print(f"{len(panels)} panels")
PY
check "dashboard and alerts use only exported metric names${strict:+ (strict)}" \
  python3 deploy/check_dashboard_metrics.py $strict
grep -E '^(WARNING|note)' "$work/out" | awk '!seen[$0]++' | sed 's/^/     /' || true

# --- compose, image, scripts ------------------------------------------------------------------
if [[ ${#compose[@]} -gt 0 ]]; then
  check "${compose[*]} config -q (deploy/compose)" bash -c 'cd deploy/compose && "$@" config -q' _ "${compose[@]}"
else
  note "no docker compose client: deploy/compose/docker-compose.yml is only parsed as YAML"
  check "deploy/compose/docker-compose.yml parses" python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert d["services"]' deploy/compose/docker-compose.yml
fi
check "compose: services and files it needs exist" python3 - <<'PY'
import os, yaml
d = yaml.safe_load(open("deploy/compose/docker-compose.yml"))
needed = {"dragonfly", "minio", "minio-init", "model-sync", "tfserving", "companion", "proxy", "prometheus"}
assert needed <= set(d["services"]), needed - set(d["services"])
for svc in d["services"].values():
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            assert os.path.exists(os.path.join("deploy/compose", src)), src
print("ok")
PY
if command -v cargo >/dev/null; then
  check "Dockerfile builds packages and binaries of this workspace" python3 - <<'PY'
import json, re, subprocess
meta = json.loads(subprocess.check_output(["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"]))
bins = {t["name"]: p["name"] for p in meta["packages"] for t in p["targets"] if "bin" in t["kind"]}
text = open("deploy/docker/Dockerfile").read()
packages = set(re.findall(r"-p (mulambda-[a-z-]+)", text))
copied = set(re.findall(r"target/release/(mulambda-[a-z-]+)", text))
assert packages <= set(bins.values()), packages - set(bins.values())
assert copied <= set(bins), copied - set(bins)
assert {"mulambda-proxy", "mulambda-companion", "mulambda-controller"} <= copied
assert re.search(r"^USER 65532", text, re.M)
# The last stage (the default target) is the main image; the intercept image is its own target
# with nft and the init binary, and the controller's default names it.
stages = re.split(r"^FROM ", text, flags=re.M)[1:]
assert "AS intercept" not in stages[-1].splitlines()[0] and "USER 65532" in stages[-1], "last stage is the main image"
intercept = next(s for s in stages if s.splitlines()[0].rstrip().endswith("AS intercept"))
assert "nftables" in intercept and "mulambda-intercept" in intercept, "intercept stage"
assert "mulambda-intercept" in bins, "mulambda-intercept is a workspace binary"
known = open("controller/src/well_known.rs").read()
assert 'DEFAULT_INTERCEPT_IMAGE: &str = "ghcr.io/mulambda/mulambda-intercept:' in known
print(sorted(copied))
PY
else
  note "cargo not found: Dockerfile package check skipped"
fi
check "shell scripts parse (bash -n)" bash -n deploy/validate.sh deploy/kubernetes/gen-webhook-cert.sh
if command -v shellcheck >/dev/null; then
  check "shellcheck" shellcheck deploy/validate.sh deploy/kubernetes/gen-webhook-cert.sh
fi

# --- summary ----------------------------------------------------------------------------------
if [[ $failed -gt 0 ]]; then
  echo "failed checks:"
  printf '  - %s\n' "${failures[@]}"
fi
echo "deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
