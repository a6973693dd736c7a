"""The kubelet's effective configuration: defaults < --config < --config-dir < flags.

Acceptance 1 of issue 4: kubeadm (a real capture from a fleet node), k3s, RKE2 and EKS
layouts, with drop-ins, repeated flags and both flag forms. Each expectation names the
source the finding must show, because "which layer set it" is the point.
"""

from __future__ import annotations

from pathlib import Path

from agent.facts import kubelet
from agent.facts.kubelet import KubeletConfig
from agent.facts.model import RawSection

FIXTURES = Path(__file__).parents[1] / "fixtures" / "facts" / "kubelet"


def load(name: str) -> KubeletConfig:
    text = (FIXTURES / name).read_bytes()
    found = kubelet.parse(RawSection("kubelet", text, b"", 0, False), {})
    assert isinstance(found, KubeletConfig), found
    return found


def value(config: KubeletConfig, path: str) -> object:
    observed = config.lookup(path)
    assert observed is not None, path
    return observed.value


def source(config: KubeletConfig, path: str) -> str:
    observed = config.lookup(path)
    assert observed is not None, path
    return observed.source


def test_kubeadm_capture_file_dropin_and_repeated_flag() -> None:
    config = load("debian12_fleet_kubeadm_layout.out")
    assert config.config_file == "/var/lib/kubelet/config.yaml"
    assert value(config, "authentication.anonymous.enabled") is False
    assert source(config, "authentication.anonymous.enabled") == (
        "authentication.anonymous.enabled: false in /var/lib/kubelet/config.yaml:4"
    )
    assert value(config, "authorization.mode") == "Webhook"
    assert value(config, "rotateCertificates") is True
    # kubeadm writes 0s; v1beta1 defaulting turns a zero duration into 4h (not "no timeout")
    assert value(config, "streamingConnectionIdleTimeout") == "4h0m0s"
    assert "a zero the v1beta1 defaulting replaces with 4h0m0s" in source(
        config, "streamingConnectionIdleTimeout"
    )
    # --config-dir given as `--config-dir /dir` (space form): *.conf applied, *.yaml skipped
    assert config.dropins == ("/etc/kubernetes/kubelet.conf.d/50-read-only-port.conf",)
    assert config.ignored == ("/etc/kubernetes/kubelet.conf.d/60-not-a-dropin.yaml",)
    # --read-only-port=10255 then --read-only-port 0: the last one wins, and says so
    assert value(config, "readOnlyPort") == 0
    assert "--read-only-port=0 on the command line (2nd of 2; the last one wins)" in source(
        config, "readOnlyPort"
    )
    # a flag replacing the file's "" (unset) is no conflict
    assert value(config, "containerRuntimeEndpoint") == "unix:///var/run/containerd/containerd.sock"
    assert config.conflicts == ()


def test_k3s_embedded_kubelet_argv_from_the_journal_no_config_file() -> None:
    config = load("k3s_journal.txt")
    assert config.component.embedded_in == "k3s" and config.component.pid == 2397
    assert config.config_file is None
    assert value(config, "authentication.anonymous.enabled") is False
    assert source(config, "authentication.anonymous.enabled").startswith(
        "--anonymous-auth=false in k3s' arguments (k3s journal of pid 2397: 'Running kubelet')"
    )
    assert value(config, "readOnlyPort") == 0
    assert value(config, "eventRecordQPS") == 0
    assert value(config, "streamingConnectionIdleTimeout") == "5m"
    assert value(config, "protectKernelDefaults") is True
    assert value(config, "hostnameOverride") == "server-0"
    assert value(config, "tlsPrivateKeyFile") == "/var/lib/rancher/k3s/agent/serving-kubelet.key"
    # not set by k3s: the plain default (rotation of the client cert is k3s' own business)
    assert value(config, "rotateCertificates") is False
    assert value(config, "featureGates.CloudDualStackNodeIPs") is True


def test_k3s_last_journal_line_wins_and_dropins_replace_lists() -> None:
    config = load("k3s_config_dir.txt")
    # the restarted kubelet re-opened the read-only port; its last line is what runs now
    assert value(config, "readOnlyPort") == 10255
    assert config.dropins == (
        "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/00-k3s-defaults.conf",
        "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-operator.conf",
    )
    # lists replace: the operator's drop-in drops k3s' CBC suite entirely
    assert value(config, "tlsCipherSuites") == ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",)
    assert source(config, "tlsCipherSuites") == (
        "tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256] in "
        "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-operator.conf:3 (--config-dir drop-in) overrides "
        "tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA] in "
        "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/00-k3s-defaults.conf:10 (--config-dir drop-in)"
    )
    assert value(config, "authentication.x509.clientCAFile") == "/var/lib/rancher/k3s/agent/client-ca.crt"
    assert value(config, "podPidsLimit") == 4096
    assert config.conflicts == ()  # the flag repeats the drop-in's false: no disagreement


def test_rke2_real_process_both_flag_forms_and_an_unzeroed_dropin() -> None:
    config = load("rke2.txt")
    assert config.component.embedded_in == "rke2"
    assert config.config_dir == "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d"
    # --read-only-port=0 ... --read-only-port 10255: the later (space form) wins
    assert value(config, "readOnlyPort") == 10255
    assert "2nd of 2" in source(config, "readOnlyPort")
    # a drop-in is merged after defaulting, so its 0s really is zero
    assert value(config, "streamingConnectionIdleTimeout") == "0s"
    assert value(config, "rotateCertificates") is True
    assert value(config, "protectKernelDefaults") is True  # bare boolean at the end of argv
    assert "no value: true" in source(config, "protectKernelDefaults")
    # without --config the command-line API's defaults apply, and flags overrode them
    assert value(config, "authorization.mode") == "Webhook"
    assert value(config, "authentication.webhook.enabled") is True


def test_eks_json_config_dropins_merge_maps_and_replace_lists() -> None:
    config = load("eks_al2023.txt")
    assert config.config_file == "/etc/kubernetes/kubelet/config.json"
    assert config.dropins == (
        "/etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf",
        "/etc/kubernetes/kubelet/config.json.d/40-operator.conf",
    )
    # nested map merge: the drop-in turns webhook authn off, anonymous/x509 stay from the file
    assert value(config, "authentication.webhook.enabled") is False
    assert "40-operator.conf:5 (--config-dir drop-in) overrides" in source(
        config, "authentication.webhook.enabled"
    )
    assert value(config, "authentication.anonymous.enabled") is False
    assert value(config, "authentication.x509.clientCAFile") == "/etc/kubernetes/pki/ca.crt"
    # feature gates merge key by key
    assert value(config, "featureGates.RotateKubeletServerCertificate") is True
    assert value(config, "featureGates.SeparateTaintEvictionController") is False
    assert value(config, "tlsCipherSuites") == ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",)
    assert value(config, "hostnameOverride") == "ip-10-0-1-23.ec2.internal"
    assert value(config, "serverTLSBootstrap") is True
    assert "/etc/kubernetes/kubelet/config.json:" in source(config, "serverTLSBootstrap")


def section(argv: str, *files: tuple[str, str, str]) -> str:
    out = ["@nodeward-kubelet 1", f"p 50 /usr/bin/kubelet /usr/bin/kubelet {argv}"]
    for tag, path, text in files:
        out += [f"f {tag}.50 {path}", text, "."]
    return "\n".join(out) + "\n"


def parse(text: str) -> object:
    return kubelet.parse(RawSection("kubelet", text.encode(), b"", 0, False), {})


FILE = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def test_flags_beat_dropins_beat_the_file_beat_defaults() -> None:
    text = section(
        "--config=/c.yaml --config-dir=/d --read-only-port=3"
        " --feature-gates=A=true,B=false --feature-gates=B=true",
        ("config", "/c.yaml", FILE + "readOnlyPort: 1\neventRecordQPS: 7\nfeatureGates: {B: false, C: true}"),
        ("dropin", "/d/10.conf", "readOnlyPort: 2\neventRecordQPS: 8"),
        ("dropin", "/d/05.conf", "eventRecordQPS: 9\npodPidsLimit: 100"),
    )
    config = parse(text)
    assert isinstance(config, KubeletConfig)
    assert value(config, "readOnlyPort") == 3
    assert source(config, "readOnlyPort").endswith(
        "overrides readOnlyPort: 2 in /d/10.conf:1 (--config-dir drop-in)"
    )
    assert value(config, "eventRecordQPS") == 8  # 05 then 10: lexical order, later wins
    assert value(config, "podPidsLimit") == 100
    assert value(config, "featureGates.A") is True
    assert value(config, "featureGates.B") is True  # the second --feature-gates merges over the first
    assert value(config, "featureGates.C") is True  # kept from the file: gates merge key by key
    assert value(config, "seccompDefault") is False
    assert (
        source(config, "seccompDefault")
        == "seccompDefault is false: built-in default (KubeletConfiguration v1beta1)"
    )
    assert len(config.conflicts) == 2  # readOnlyPort 3 vs 2, featureGates.B true vs false


def test_without_config_the_legacy_flag_defaults_apply() -> None:
    config = parse(section("--kubeconfig=/k"))
    assert isinstance(config, KubeletConfig)
    assert value(config, "authentication.anonymous.enabled") is True
    assert value(config, "authorization.mode") == "AlwaysAllow"
    assert value(config, "readOnlyPort") == 10255
    assert value(config, "authentication.webhook.enabled") is False
    assert "the kubelet runs without --config" in source(config, "readOnlyPort")


def test_with_config_the_v1beta1_defaults_apply_to_fields_the_file_omits() -> None:
    config = parse(section("--config /c.yaml", ("config", "/c.yaml", FILE)))
    assert isinstance(config, KubeletConfig)
    assert value(config, "authentication.anonymous.enabled") is False
    assert value(config, "authorization.mode") == "Webhook"
    assert value(config, "readOnlyPort") == 0
