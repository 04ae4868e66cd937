#!/usr/bin/python3
"""k8s_check.py DIR - validates deploy/k8s: every manifest parses, has the
fields Kubernetes requires, and is wired the way shears needs (the workers'
broker address is the broker Service, threads follow the CPU limit, state
sits on a volume claim, nothing runs as root or writes its root filesystem,
only shears pods may reach the broker, and every key for CURVE comes from
a Secret). With kubectl and a reachable
cluster it also asks the API server (server-side dry run)."""
import glob
import os
import shutil
import subprocess
import sys

import yaml


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def require(doc, path):
    node = doc
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            fail(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}: missing {path}")
        node = node[key]
    return node


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def secret_for(workload, container, path):
    """The Secret whose volume is mounted where path lies, or fail."""
    vols = {v["name"]: v for v in require(workload, "spec.template.spec.volumes")}
    for m in container.get("volumeMounts", []):
        if path.startswith(m["mountPath"].rstrip("/") + "/"):
            vol = vols.get(m["name"]) or fail(f"mount {m['name']} has no volume")
            if "secret" not in vol:
                fail(f"{path} is not on a Secret volume")
            return vol["secret"], path[len(m["mountPath"].rstrip("/")) + 1:]
    fail(f"{workload['metadata']['name']}: {path} is on no mounted volume")


def check_curve(sts, bc, dep, wc):
    """CURVE everywhere: the broker's key and allow list, the workers' and the
    in-pod client's keys all come from Secrets, and nothing asks for plaintext."""
    benv, wenv = env_of(bc), env_of(wc)
    for env in (benv, wenv):
        if "SHEARS_PLAINTEXT" in env:
            fail("a container asks for plaintext")
    for name in ("SHEARS_BROKER_CURVE_SECRET", "SHEARS_ALLOW"):
        if name not in benv:
            fail(f"broker lacks {name}: it would refuse to serve a network endpoint")
    secret_for(sts, bc, benv["SHEARS_BROKER_CURVE_SECRET"]["value"])
    allow, _ = secret_for(sts, bc, benv["SHEARS_ALLOW"]["value"] + "/x")
    paths = {i["path"].split("/")[0] for i in allow.get("items", [])}
    if paths != {"clients", "workers"}:
        fail("the allow Secret does not fill clients/ and workers/")
    for env, w, c in ((wenv, dep, wc), (benv, sts, bc)):
        for name in ("SHEARS_CURVE_SECRET", "SHEARS_CURVE_SERVER"):
            if name not in env:
                fail(f"{c['name']} lacks {name}")
            secret_for(w, c, env[name]["value"])


def main(d):
    docs = []
    for path in sorted(glob.glob(os.path.join(d, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append(doc)
    kinds = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    for doc in docs:
        for field in ("apiVersion", "kind", "metadata.name"):
            require(doc, field)
        if doc["kind"] != "Namespace" and require(doc, "metadata.namespace") != "shears":
            fail(f"{doc['metadata']['name']} is not in namespace shears")
    svc = kinds.get(("Service", "shears-broker")) or fail("no Service shears-broker")
    sts = kinds.get(("StatefulSet", "shears-broker")) or fail("no StatefulSet shears-broker")
    dep = kinds.get(("Deployment", "shears-worker")) or fail("no Deployment shears-worker")
    port = svc["spec"]["ports"][0]["port"]
    if require(sts, "spec.serviceName") != "shears-broker":
        fail("StatefulSet serviceName is not the broker Service")
    labels = require(sts, "spec.template.metadata.labels")
    if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        fail("the broker Service does not select the broker pods")
    if not require(sts, "spec.volumeClaimTemplates"):
        fail("broker state is not on a PersistentVolumeClaim")
    bc = require(sts, "spec.template.spec.containers")[0]
    mounts = {m["mountPath"] for m in bc.get("volumeMounts", [])}
    if env_of(bc)["SHEARS_STATE"]["value"] not in mounts:
        fail("SHEARS_STATE is not on the claimed volume")
    if not env_of(bc)["SHEARS_BIND"]["value"].endswith(f":{port}"):
        fail("broker binds another port than its Service")
    wc = require(dep, "spec.template.spec.containers")[0]
    env = env_of(wc)
    if env["SHEARS_BROKER"]["value"] != f"tcp://shears-broker:{port}":
        fail("workers do not point at the broker Service")
    threads = env["SHEARS_THREADS"].get("valueFrom", {}).get("resourceFieldRef", {})
    if threads.get("resource") != "limits.cpu":
        fail("SHEARS_THREADS does not follow the CPU limit")
    for c in (bc, wc):
        for field in ("image", "command", "resources"):
            if field not in c:
                fail(f"container {c.get('name')} lacks {field}")
    for w in (sts, dep):
        sc = require(w, "spec.template.spec.securityContext")
        if not sc.get("runAsNonRoot"):
            fail(f"{w['metadata']['name']} may run as root")
        for c in require(w, "spec.template.spec.containers"):
            csc = c.get("securityContext", {})
            if csc.get("allowPrivilegeEscalation") is not False:
                fail(f"container {c['name']} allows privilege escalation")
            if not csc.get("readOnlyRootFilesystem"):
                fail(f"container {c['name']} has a writable root filesystem")
    pol = kinds.get(("NetworkPolicy", "shears-broker-ingress")) or fail("no NetworkPolicy for the broker")
    sel = require(pol, "spec.podSelector.matchLabels")
    if any(labels.get(k) != v for k, v in sel.items()):
        fail("the NetworkPolicy does not select the broker pods")
    if not any(p.get("port") == port for rule in require(pol, "spec.ingress")
               for p in rule.get("ports", [])):
        fail("the NetworkPolicy does not open the broker's port")
    check_curve(sts, bc, dep, wc)
    if require(dep, "spec.replicas") < 1:
        fail("no worker replicas")
    print(f"k8s manifests: {len(docs)} objects valid")
    if shutil.which("kubectl"):
        r = subprocess.run(["kubectl", "version", "--request-timeout=3s"], capture_output=True)
        if r.returncode == 0:
            r = subprocess.run(["kubectl", "apply", "--dry-run=server", "-f", d])
            if r.returncode != 0:
                fail("the API server refuses the manifests")
            print("accepted by the cluster's API server (dry run)")
        else:
            print("kubectl found, no cluster reachable: server-side check skipped")
    else:
        print("no kubectl: server-side check skipped")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "deploy/k8s")
