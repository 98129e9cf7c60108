"""The benchmark's handshake part (bench/run --only handshake): what each
admission step costs a connection.

Servers, each fresh per round, each loaded with the same connection
lifecycles (TCP connect, upgrade, one verified echo, close handshake), P at
a time, after a discarded warm-up:

- ref-echo: the plain tokio-tungstenite echo, the baseline;
- wasmsock: the Rust echo plugin in one shared shard, no checks;
- wasmsock-jwt-hs256 / wasmsock-jwt-rs256: the same plugin with `[auth]`
  in its manifest (a shared secret; an RSA-2048 public key), every upgrade
  carrying a valid `Authorization: Bearer` token;
- wasmsock-middleware: the same plugin behind `middleware =
  ["session-auth"]` (plugins/session-auth), every upgrade carrying a
  session cookie the middleware knows;
- wasmsock-tls: the same plugin over `wss://` (an ECDSA P-256 certificate
  made for the run), TLS 1.3.

Keys, the certificate and the tokens are made per run with `openssl` into
OUT/handshake/. Reported: lifecycles per second, server CPU per lifecycle
and lifecycle p99, with ratios to ref-echo and to wasmsock without checks.
"""

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
from pathlib import Path

BASE = "ref-echo"
PLAIN = "wasmsock"
SERVERS = [BASE, PLAIN, "wasmsock-jwt-hs256", "wasmsock-jwt-rs256", "wasmsock-middleware", "wasmsock-tls"]
WHAT = {
    BASE: "plain tokio-tungstenite echo (baseline)",
    PLAIN: "no checks",
    "wasmsock-jwt-hs256": "JWT, HS256 (`[auth] jwt_secret`)",
    "wasmsock-jwt-rs256": "JWT, RS256 (`[auth] jwt_public_key`, RSA-2048)",
    "wasmsock-middleware": "one middleware plugin (`session-auth`)",
    "wasmsock-tls": "TLS 1.3 (`wss://`, ECDSA P-256)",
}
SECRET = "wasmsock-bench-secret-0123456789abcdef"
SESSION = "bench-session"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(alg, sign):
    """A token for subject `bench`, valid for a day."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": "bench", "iat": now, "exp": now + 86400}).encode())
    signing = f"{head}.{body}".encode()
    return f"{head}.{body}.{b64url(sign(signing))}"


class Material:
    """What the run's checks need: a secret, an RSA key pair, a TLS
    certificate and the tokens, all made here."""

    def __init__(self, out):
        self.dir = Path(out) / "handshake"
        self.dir.mkdir(parents=True, exist_ok=True)
        if not shutil.which("openssl"):
            raise RuntimeError("openssl is not installed (apt-get install openssl)")
        d = self.dir

        def ssl(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True)
        ssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(d / "rsa.pem"))
        ssl("pkey", "-in", str(d / "rsa.pem"), "-pubout", "-out", str(d / "rsa.pub.pem"))
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(d / "tls.key"), "-out", str(d / "tls.crt"))
        self.hs256 = jwt("HS256", lambda m: hmac.new(SECRET.encode(), m, hashlib.sha256).digest())

        def rsa_sign(m):
            return subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(d / "rsa.pem")], input=m,
                                  check=True, capture_output=True).stdout
        self.rs256 = jwt("RS256", rsa_sign)


def setup(bench, name):
    """The plugin folder, extra server arguments and loadgen arguments of
    one wasmsock variant."""
    m = bench.handshake_material
    d = bench.plugin_dir(name, bench.langs["rust"], "shared")
    manifest = (d / "echo.toml").read_text()
    server_args, client_args, scheme = [], [], "ws"
    if name == "wasmsock-jwt-hs256":
        manifest += f'\n[auth]\njwt_secret = "{SECRET}"\n'
        client_args = ["--header", f"Authorization: Bearer {m.hs256}"]
    elif name == "wasmsock-jwt-rs256":
        shutil.copy(m.dir / "rsa.pub.pem", d / "rsa.pub.pem")
        manifest += '\n[auth]\njwt_public_key = "rsa.pub.pem"\n'
        client_args = ["--header", f"Authorization: Bearer {m.rs256}"]
    elif name == "wasmsock-middleware":
        shutil.copy(bench.session_auth_wasm, d / "session-auth.wasm")
        (d / "session-auth.toml").write_text(f'[config]\nsessions = "{SESSION}:bench"\n')
        manifest = 'middleware = ["session-auth"]\n' + manifest
        client_args = ["--header", f"Cookie: sessionid={SESSION}"]
    elif name == "wasmsock-tls":
        server_args = ["--tls-cert", str(m.dir / "tls.crt"), "--tls-key", str(m.dir / "tls.key")]
        scheme = "wss"
    (d / "echo.toml").write_text(manifest)
    return d, server_args, client_args, scheme


def round_(bench, name, rnd):
    """One server's lifecycles on a fresh process."""
    z = bench.size
    try:
        s = bench.start(name) if name == BASE else bench.start_handshake(name)
    except Exception as e:
        return bench.fail_start(name, "handshake", rnd, e)
    try:
        extra = getattr(s, "client_args", [])
        bench.loadgen(s, "warm-up", "connect", "-k", 50, "-p", 10, *extra, round_=rnd, record=False)
        bench.loadgen(s, "handshake", "connect", "-k", z["connect_k"], "-p", z["connect_p"], *extra, round_=rnd)
    finally:
        s.stop()


def summarize(rows, env, med):
    out = {}
    for name in SERVERS:
        out[name] = {k: med(rows, name, "handshake", src) for k, src in (
            ("connects_per_s", "conns_per_s"), ("cpu_us", "server_cpu_us_per_conn"),
            ("p99_us", "lifecycle_p99_us"))}
        out[name]["errors"] = sum(r["r"].get("errors", 0) or 0 for r in rows
                                  if r["server"] == name and r["test"] == "handshake")
    return out


def render(x, env, fmt):
    z = env["sizes"]
    L = [f"Run of {env['date']} on {env['cpus']} CPUs ({env['cpu_model']}), {env['pinning']}; "
         f"{env['rounds']} round(s), medians; commit {env['git']}.",
         f"Each server fresh per round: {z['connect_k']:,} connection lifecycles (TCP connect, upgrade, one "
         f"verified echo, close handshake), {z['connect_p']} at a time, after 50 discarded. Ratios: to "
         "ref-echo, and to wasmsock without checks.", "",
         "| server | checks | connects/s | × ref-echo | CPU µs per connection | × ref-echo | × no checks "
         "| lifecycle p99 ms | errors |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    base, plain = x.get(BASE, {}), x.get(PLAIN, {})

    def ratio(a, b):
        return fmt(a / b, "{:.2f}×") if a and b else "–"
    for name in SERVERS:
        m = x.get(name, {})
        L.append("| " + " | ".join([
            name, WHAT[name], fmt(m.get("connects_per_s")), ratio(m.get("connects_per_s"), base.get("connects_per_s")),
            fmt(m.get("cpu_us"), "{:.1f}"), ratio(m.get("cpu_us"), base.get("cpu_us")),
            ratio(m.get("cpu_us"), plain.get("cpu_us")), fmt(m.get("p99_us"), "{:.2f}", 1e-3),
            str(m.get("errors", 0))]) + " |")
    return "\n".join(L) + "\n"
