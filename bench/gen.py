#!/usr/bin/env python3
"""Generate the benchmark inputs into a work directory.

cluster.yaml      the bench namespace: Secrets, a plain and an injecting ServiceAccount
pod-validate.json a realistic Pod CREATE review whose Secret references all resolve
pod-mutate.json   a Pod CREATE review for the injecting ServiceAccount (pull secrets + mounts)
secret-1mib.json  a Secret CREATE review carrying exactly 1 MiB of random data
scale.json        100k Secrets (5 keys each) and 20k ServiceAccounts in 1000 namespaces (kind: List)
Values are random or fake; nothing here is a real secret.
"""
import base64
import json
import os
import random
import sys

work = sys.argv[1]
os.makedirs(work, exist_ok=True)
rng = random.Random(20261122)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret(ns, name, keys, type_="Opaque"):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": type_,
            "data": {k: b64(b"fake-" + k.encode()) for k in keys}}


cluster = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
    secret("bench", "db", ["username", "password"], "kubernetes.io/basic-auth"),
    secret("bench", "api", ["token", "url"]),
    secret("bench", "tls", ["tls.crt", "tls.key"], "kubernetes.io/tls"),
    secret("bench", "regcred", [".dockerconfigjson"], "kubernetes.io/dockerconfigjson"),
    secret("bench", "other-reg", [".dockerconfigjson"], "kubernetes.io/dockerconfigjson"),
    secret("bench", "env", ["LOG_LEVEL", "FEATURE_FLAGS", "REGION"]),
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "bench"},
     "imagePullSecrets": [{"name": "regcred"}]},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "bench",
     "annotations": {"secretgate.io/inject-secrets": "true", "secretgate.io/mount-path.api": "/etc/api"}},
     "secrets": [{"name": "db"}, {"name": "api"}],
     "imagePullSecrets": [{"name": "regcred"}, {"name": "other-reg"}]},
]
with open(os.path.join(work, "cluster.yaml"), "w") as f:
    f.write("\n---\n".join(json.dumps(doc) for doc in cluster))


def review(kind, resource, obj, uid):
    gvk = {"group": "", "version": "v1", "kind": kind}
    gvr = {"group": "", "version": "v1", "resource": resource}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr, "name": "",
        "namespace": "bench", "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                     "uid": "8a6ba4b1-9f0e-4e0b-9d45-0c1b2a3d4e5f",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]},
        "object": obj, "oldObject": None, "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}


def container(name, extra):
    c = {"name": name, "image": f"registry.example.test/team/{name}:1.4.2",
         "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
         "volumeMounts": [{"name": "kube-api-access-7xk2p", "readOnly": True,
                           "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
         "imagePullPolicy": "IfNotPresent",
         "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    c.update(extra)
    return c


def pod(sa, containers, volumes):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "generateName": "web-6d4cf56db6-", "namespace": "bench",
        "labels": {"app": "web", "pod-template-hash": "6d4cf56db6"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4cf56db6",
                             "uid": "f1c2d3e4-0000-4000-8000-00000000abcd", "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"volumes": volumes + [{"name": "kube-api-access-7xk2p", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
            "containers": containers, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": sa, "serviceAccount": sa, "securityContext": {},
            "imagePullSecrets": [{"name": "regcred"}], "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority"}}


validate_pod = pod("web", [
    container("web", {"env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                              {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
                      "envFrom": [{"secretRef": {"name": "env"}}]}),
    container("proxy", {"volumeMounts": [{"name": "tls", "mountPath": "/etc/tls", "readOnly": True}]}),
], [{"name": "tls", "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}}])
mutate_pod = pod("app", [container("app", {}), container("sidecar", {})], [])
blob = rng.randbytes(1024 * 1024)
big_secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "blob", "namespace": "bench"},
              "type": "Opaque", "data": {"blob.bin": b64(blob)}}
for name, body in {
    "pod-validate": review("Pod", "pods", validate_pod, "11111111-2222-4333-8444-555555555555"),
    "pod-mutate": review("Pod", "pods", mutate_pod, "11111111-2222-4333-8444-666666666666"),
    "secret-1mib": review("Secret", "secrets", big_secret, "11111111-2222-4333-8444-777777777777"),
}.items():
    with open(os.path.join(work, f"{name}.json"), "w") as f:
        json.dump(body, f, separators=(",", ":"))

scale_path = os.path.join(work, "scale.json")
if not os.path.exists(scale_path):
    items = []
    for n in range(1000):
        ns = f"tenant-{n:04d}"
        for s in range(100):
            items.append({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": f"app-{s:03d}-credentials", "namespace": ns,
                                       "labels": {"app": f"app-{s:03d}"}},
                          "type": "Opaque",
                          "data": {k: b64(rng.randbytes(24)) for k in ["username", "password", "host", "port", "database"]}})
        for a in range(20):
            items.append({"apiVersion": "v1", "kind": "ServiceAccount",
                          "metadata": {"name": f"sa-{a:02d}", "namespace": ns},
                          "secrets": [{"name": f"app-{a * 5 + i:03d}-credentials"} for i in range(5)],
                          "imagePullSecrets": [{"name": "regcred"}]})
    with open(scale_path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f, separators=(",", ":"))

# The audit's scale: 10k Pods and 1000 Deployments over the 100k Secrets of scale.json
# (10 Pods per namespace; one Pod in a hundred names a Secret that does not exist).
audit_path = os.path.join(work, "audit-workloads.json")
if not os.path.exists(audit_path):
    items = []
    for n in range(1000):
        ns = f"tenant-{n:04d}"
        for p in range(10):
            app = f"app-{(n + p) % 100:03d}"
            missing = (n * 10 + p) % 100 == 0
            secret = f"{app}-gone" if missing else f"{app}-credentials"
            items.append({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": f"{app}-{p}", "namespace": ns, "labels": {"app": app}},
                          "spec": {"serviceAccountName": f"sa-{p:02d}",
                                   "containers": [{"name": "app", "image": "registry.example/app:1",
                                                   "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}],
                                                   "volumeMounts": [{"name": "creds", "mountPath": "/creds"}]}],
                                   "volumes": [{"name": "creds", "secret": {"secretName": f"{app}-credentials"}}]}})
        items.append({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "web", "namespace": ns},
                      "spec": {"selector": {"matchLabels": {"app": "web"}},
                               "template": {"metadata": {"labels": {"app": "web"}},
                                            "spec": {"containers": [{"name": "web", "image": "registry.example/web:1",
                                                                     "envFrom": [{"secretRef": {"name": "app-000-credentials"}}]}]}}}})
    with open(audit_path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f, separators=(",", ":"))
