# SPDX-License-Identifier: GPL-2.0
"""Helpers shared by the HTTP tests of gpumux-engine serve
(tests/engine/test-serve.py) and gpumux-gateway (tests/gateway/
test-gateway.py): server processes, requests over TCP or a unix socket,
Prometheus text, server-sent events, the slow random checkpoint, and the
PASS/FAIL tally.  Standard library only; a test imports it with
sys.path.insert(0, <repository>/tests/lib).
"""
import array
import http.client
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

MODEL_DIR = os.path.join(os.environ.get('GPUMUX_MODEL_DIR', '../shared/models'),
                         'aidreams260K')
MODEL = os.path.join(MODEL_DIR, 'aidreams260K.bin')
TOK = os.path.join(MODEL_DIR, 'tok512.bin')

PROCS = []  # every Proc started, for check_logs() and cleanup()


def make_tmp(prefix):
    return tempfile.mkdtemp(prefix=prefix)


class Proc:
    """A server process that prints "... on ADDR (" when ready; its stderr
    goes to TMPDIR/NAME.log."""

    def __init__(self, name, argv, tmp, env=None):
        self.name = name
        self.logpath = os.path.join(tmp, name + '.log')
        self.log = open(self.logpath, 'w')
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env)
        PROCS.append(self)
        line = self.proc.stdout.readline()
        self.banner = line.strip()
        m = re.search(r' on (\S+) \(', line)
        if not m:
            raise RuntimeError('%s did not start: %r; log: %s' %
                               (name, line, self.log_text()))
        self.addr = m.group(1)
        self.port = None
        if not self.addr.startswith('unix:'):
            self.port = int(self.addr.rsplit(':', 1)[1])
        self.rc = None

    @property
    def url(self):
        return self.addr if self.addr.startswith('unix:') else \
            'http://' + self.addr

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.logpath, errors='replace') as f:
            return f.read()

    def conn(self, timeout=60):
        if self.port is None:
            path = self.addr[5:]

            class UnixConn(http.client.HTTPConnection):
                def connect(self):
                    self.sock = socket.socket(socket.AF_UNIX,
                                              socket.SOCK_STREAM)
                    self.sock.settimeout(timeout)
                    self.sock.connect(path)
            return UnixConn('localhost')
        return http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, headers, body bytes); body may be an object (JSON)."""
        c = conn or self.conn()
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if not conn:
            c.close()
        return r.status, r.headers, data

    def metrics(self):
        status, _, data = self.request('GET', '/metrics')
        if status != 200:
            raise RuntimeError('%s /metrics: %d' % (self.name, status))
        return parse_metrics(data.decode())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.rc is None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                self.rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.rc = 'hung'
            self.proc.stdout.close()
            self.log.close()
        return self.rc


METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? '
    r'([-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$')


def parse_metrics(text):
    """Prometheus text format -> {'name{labels}': value}; strict."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('# HELP ') or line.startswith('# TYPE '):
            continue
        m = METRIC_LINE.match(line)
        if not m:
            raise ValueError('bad metrics line %r' % line)
        out[m.group(1) + (m.group(2) or '')] = float(m.group(3))
    return out


def sse(resp):
    """Yield the parsed data of each server-sent event ('[DONE]' as is)."""
    while True:
        line = resp.readline()
        if not line:
            return
        line = line.decode().rstrip('\r\n')
        if not line:
            continue
        if not line.startswith('data: '):
            raise ValueError('bad event line %r' % line)
        data = line[6:]
        yield data if data == '[DONE]' else json.loads(data)


def open_stream(srv, body):
    """POST a streaming completion: (connection, response) once it is 200
    with an event stream."""
    c = srv.conn()
    c.request('POST', '/v1/completions', body=json.dumps(dict(body, stream=True)),
              headers={'Content-Type': 'application/json'})
    r = c.getresponse()
    if r.status != 200:
        raise AssertionError('stream status %d: %s' % (r.status, r.read()))
    if not r.headers.get('Content-Type', '').startswith('text/event-stream'):
        raise AssertionError('content type %r' % r.headers['Content-Type'])
    return c, r


def joined(events):
    """(text, token ids, completion chunks) of a list of events"""
    chunks = [e for e in events if isinstance(e, dict) and e.get('choices')]
    text = ''.join(e['choices'][0]['text'] for e in chunks)
    ids = [t for e in chunks for t in e['choices'][0].get('token_ids', [])]
    return text, ids, chunks


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def write_slow_model(path, dim=128, hidden=384, layers=4, heads=4,
                     kv_heads=2, vocab=512, seq_len=1024):
    """A llama2.c v0 checkpoint with seeded random weights and a separate
    classifier whose BOS row is zero, so greedy decoding never stops early
    (every other logit being negative is a 2^-511 chance)."""
    rnd = random.Random(7)
    pattern = array.array('f', (rnd.uniform(-0.3, 0.3) for _ in range(4099)))

    def rand(n):
        reps = n // len(pattern) + 1
        return (pattern * reps)[:n]

    def ones(n):
        return array.array('f', (1.0 + rnd.uniform(-0.1, 0.1)
                                 for _ in range(n)))

    kv_dim = dim * kv_heads // heads
    half = seq_len * (dim // heads) // 2
    with open(path, 'wb') as f:
        f.write(struct.pack('<7i', dim, hidden, layers, heads, kv_heads,
                            -vocab, seq_len))
        for part in (rand(vocab * dim), ones(layers * dim),
                     rand(layers * dim * dim), rand(layers * kv_dim * dim),
                     rand(layers * kv_dim * dim), rand(layers * dim * dim),
                     ones(layers * dim), rand(layers * hidden * dim),
                     rand(layers * dim * hidden), rand(layers * hidden * dim),
                     ones(dim), array.array('f', bytes(8 * half))):
            part.tofile(f)
        wcls = rand(vocab * dim)
        for i in range(dim):
            wcls[1 * dim + i] = 0.0
        wcls.tofile(f)


class Tally:
    """PASS/FAIL lines named PREFIX + test, and the counts."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.passed = self.failed = 0
        self.start = time.time()

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            print('FAIL %s%s: %s: %s' % (self.prefix, name,
                                         type(e).__name__, e), flush=True)
        else:
            self.passed += 1
            print('PASS %s%s' % (self.prefix, name), flush=True)

    def check_logs(self, stop=lambda p: p.stop()):
        """Stop every process (stop(p) gives the status that counts, 0
        for none); one that exited otherwise or logged a sanitizer report
        fails clean_exit; PASS clean_exit when nothing failed at all."""
        for p in PROCS:
            rc = stop(p)
            log = p.log_text()
            bad = [l for l in log.splitlines()
                   if 'Sanitizer' in l or 'runtime error' in l or
                   'ERROR' in l]
            if rc != 0 or bad:
                self.failed += 1
                print('FAIL %sclean_exit (%s): status %r\n%s' %
                      (self.prefix, p.name, rc,
                       '\n'.join(log.splitlines()[-40:])), flush=True)
        if not self.failed:
            self.passed += 1
            print('PASS %sclean_exit' % self.prefix, flush=True)

    def summary(self):
        """Print the time and the counts; the exit status."""
        print('(%.1f s)' % (time.time() - self.start))
        print('%d passed, %d failed' % (self.passed, self.failed))
        return 1 if self.failed else 0


def cleanup(tmp):
    """Kill what is still running, remove tmp."""
    for p in PROCS:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
    subprocess.run(['rm', '-rf', tmp], check=False)
