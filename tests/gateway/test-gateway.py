#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""HTTP tests of gpumux-gateway in front of real engines (standard library).

Usage: test-gateway.py PATH-TO-gpumux-gateway PATH-TO-gpumux-engine

Starts engines on the shared model ($GPUMUX_MODEL_DIR/aidreams260K, default
../shared/models), TCP and unix socket, and on a slower checkpoint with
random weights written here (for requests that must still be running when
something happens to them), and gateways in front of them:

  rr    roundrobin over fast engines e1, e2 (TCP) and e3 (unix socket)
  ll    leastload over slow engines s1, s2, with --admin (re-attach hook)
  lazy  roundrobin over e1 and e4, polling once a minute (so a dead engine
        is found by a forward, and the retry is what saves the request)

Prints PASS/FAIL/SKIP lines, a relay overhead measurement, then "N passed,
N failed"; exits 0, 1 on a failure, 77 when the shared model is absent.  A
gateway that exits other than 0 on SIGTERM, or prints a sanitizer report,
fails the run (so the ASan/UBSan build is tested the same way).
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in tests/lib
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'lib'))
from httptest import (MODEL, TOK, Tally, check, cleanup,  # noqa: E402
                      joined, make_tmp, open_stream, sse)
import httptest  # noqa: E402

GATEWAY = ENGINE = None
TMP = make_tmp('gw-test-')
T = Tally('gateway_')
run = T.run


class Proc(httptest.Proc):
    """A server process that prints "... on ADDR (" when ready."""

    def __init__(self, name, argv, env=None):
        super().__init__(name, argv, TMP, env=env)

    def post(self, obj):
        status, hdr, data = self.request('POST', '/v1/completions', obj)
        return status, json.loads(data), hdr

    def health(self):
        status, _, data = self.request('GET', '/health')
        return status, json.loads(data)


def engine(name, model, *extra, listen='127.0.0.1:0'):
    return Proc(name, [ENGINE, 'serve', '--model', model, '--tokenizer', TOK,
                       '--listen', listen, '--threads', '1', *extra])


def gateway(name, engines, *extra):
    argv = [GATEWAY, '--listen', '127.0.0.1:0', *extra]
    for e in engines:
        argv += ['--engine', e.url]
    return Proc(name, argv)


def stream(srv, body):
    """POST a streaming completion: (text, token ids, events, headers)."""
    c, r = open_stream(srv, body)
    events = list(sse(r))
    c.close()
    text, ids, _ = joined(events)
    return text, ids, events, r.headers


def wait_for(fn, what, timeout=10):
    end = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > end:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.02)


def write_slow_model(path):
    """The slow checkpoint of tests/engine/test-serve.py, a little larger:
    a few ms per token."""
    httptest.write_slow_model(path, dim=192, hidden=576, layers=6, heads=6,
                              kv_heads=3)


# ---- through rr: the same API and the same tokens ------------------------

def t_health_models(rr, e1):
    status, h = rr.health()
    check(status == 200 and h['status'] == 'ok', h)
    check(h['policy'] == 'roundrobin' and len(h['engines']) == 3, h)
    check(all(e['state'] == 'up' and e['kv_blocks_total'] > 0
              for e in h['engines']), h)
    s1, _, d1 = rr.request('GET', '/v1/models')
    s2, _, d2 = e1.request('GET', '/v1/models')
    check(s1 == s2 == 200 and json.loads(d1) == json.loads(d2),
          '%r vs %r' % (d1, d2))
    status, _, data = rr.request('HEAD', '/health')
    check(status == 200 and data == b'', 'HEAD %d %r' % (status, data))


def t_same_output(rr, e1):
    for body in ({'prompt': 'Once upon a time', 'max_tokens': 60,
                  'temperature': 0, 'return_token_ids': True},
                 {'prompt': 'The robot', 'max_tokens': 50, 'temperature': 0.8,
                  'top_p': 0.9, 'seed': 7, 'return_token_ids': True},
                 {'prompt': [1, 400, 300], 'max_tokens': 1000,
                  'temperature': 0}):
        s1, j1, _ = e1.post(body)
        s2, j2, hdr = rr.post(body)
        check(s1 == s2 == 200, 'status %d %d' % (s1, s2))
        for k in ('id', 'created'):
            j1.pop(k)
            j2.pop(k)
        check(j1 == j2, 'direct %s\nvia gateway %s' % (j1, j2))
        check(hdr['X-Gpumux-Request-Id'].startswith('gw-'), hdr)
    # streams: the same text and tokens as the engine's own answer
    body = {'prompt': 'Once upon a time', 'max_tokens': 60, 'temperature': 0,
            'return_token_ids': True}
    _, ref, _ = e1.post(body)
    ref = ref['choices'][0]
    text, ids, events, _ = stream(rr, dict(body, stream_options={
        'include_usage': True}))
    check(events[-1] == '[DONE]', events[-1])
    check(text == ref['text'] and ids == ref['token_ids'],
          'stream %r %r\nvs %r %r' % (text, ids, ref['text'],
                                      ref['token_ids']))
    _, _, chunks = joined(events)
    check(len({e['id'] for e in chunks}) == 1, 'ids change')
    check(chunks[-1]['choices'][0]['finish_reason'] == ref['finish_reason'],
          chunks[-1])
    check(events[-2]['usage']['completion_tokens'] == len(ids), events[-2])
    # not asking for token ids: none in the events (the gateway's are
    # removed), the same text, and the engine's own event shape
    text2, ids2, events, _ = stream(rr, {'prompt': 'Once upon a time',
                                         'max_tokens': 60, 'temperature': 0})
    check(text2 == ref['text'] and not ids2, 'stream without ids')
    _, _, chunks = joined(events)
    check(all(set(e['choices'][0]) == {'text', 'index', 'logprobs',
                                       'finish_reason'} for e in chunks),
          chunks[0])
    check(all(list(e) == ['id', 'object', 'created', 'model', 'choices']
              for e in chunks), chunks[0])
    # return_token_ids false is the client's: forwarded as is
    text3, ids3, _, _ = stream(rr, {'prompt': 'Once upon a time',
                                    'max_tokens': 60, 'temperature': 0,
                                    'return_token_ids': False})
    check(text3 == ref['text'] and not ids3, 'return_token_ids false')


def t_roundrobin(rr, engines):
    before = rr.metrics()
    ebefore = [e.metrics()['gpumux_engine_requests_total'] for e in engines]
    seen = {}
    for i in range(9):
        status, j, hdr = rr.post({'prompt': 'Hi %d' % i, 'max_tokens': 4})
        check(status == 200, 'status %d' % status)
        seen[hdr['X-Gpumux-Engine']] = seen.get(hdr['X-Gpumux-Engine'], 0) + 1
    check(sorted(seen) == sorted(e.url for e in engines) and
          set(seen.values()) == {3}, 'spread %r' % seen)
    after = rr.metrics()
    for e, b in zip(engines, ebefore):
        key = ('gpumux_gateway_engine_requests_total{engine="%s",'
               'policy="roundrobin"}' % e.url)
        check(after[key] - before[key] == 3, '%s: %r' % (key, after[key]))
        got = e.metrics()['gpumux_engine_requests_total'] - b
        check(got == 3, '%s served %d' % (e.name, got))


def check_error_like(s1, d1, s2, d2):
    check(s1 == s2, 'status %d via gateway, %d direct' % (s2, s1))
    j1, j2 = json.loads(d1), json.loads(d2)
    check(j1 == j2, 'error %s via gateway, %s direct' % (j2, j1))
    check(set(j1['error']) == {'message', 'type', 'param', 'code'}, j1)


def t_bad_requests(rr, e1):
    for body in (b'{bad json', b'', b'[1, 2]', b'{"prompt": "a", "prompt": "b"}',
                 b'{"prompt": "\xff\xfe"}', {}, {'prompt': 5},
                 {'prompt': [1, 512]}, {'prompt': 'x', 'max_tokens': -1},
                 {'prompt': 'x', 'temperature': 3},
                 {'prompt': 'x', 'stream': 'yes'},
                 {'prompt': 'x', 'stream': True, 'n': 2},
                 {'prompt': 'x', 'stream': True, 'top_p': 0},
                 {'prompt': 'x', 'model': 'gpt-4'},
                 {'prompt': 'x', 'stream': True, 'model': 'gpt-4'},
                 {'prompt': 'word ' * 100},
                 b'{"prompt": "x", "max_tokens": 1e400}',
                 b'{"x": ' + b'[' * 30000 + b']' * 30000 + b'}'):
        s1, _, d1 = rr.request('POST', '/v1/completions', body)
        s2, _, d2 = e1.request('POST', '/v1/completions', body)
        check(400 <= s1 < 500, 'status %d for %r' % (s1, body))
        check_error_like(s2, d2, s1, d1)
    # the gateway's own answers, as the engine gives them
    for method, path, body in (('GET', '/nope', None),
                               ('GET', '/v1/chat/completions', None),
                               ('GET', '/v1/completions', None),
                               ('DELETE', '/health', None),
                               ('POST', '/metrics', b'{}'),
                               ('POST', '/admin/reattach', b'{}')):
        s1, h1, d1 = rr.request(method, path, body)
        s2, h2, d2 = e1.request(method, path, body)
        check(s1 in (404, 405), '%s %s: %d' % (method, path, s1))
        check_error_like(s2, d2, s1, d1)
        check(h1.get('Allow') == h2.get('Allow'), 'Allow %r vs %r' %
              (h1.get('Allow'), h2.get('Allow')))
    big = json.dumps({'prompt': 'a' * 70000})
    status, _, data = rr.request('POST', '/v1/completions', big)
    check(status == 413 and json.loads(data)['error']['code'] ==
          'request_too_large', 'status %d' % status)
    status, j, _ = rr.post({'prompt': 'x', 'max_tokens': 2})
    check(status == 200, 'status %d after bad requests' % status)


def t_metrics(rr):
    m = rr.metrics()
    for k in ('requests_total', 'requests_in_flight', 'retries_total',
              'relay_bytes_total{direction="to_client"}',
              'relay_bytes_total{direction="to_engine"}',
              'stream_tokens_total', 'errors_total{kind="connect"}',
              'time_to_first_token_seconds_count',
              'request_duration_seconds_count',
              'http_responses_total{code="400"}'):
        check('gpumux_gateway_' + k in m, 'missing %s' % k)
    check(m['gpumux_gateway_requests_in_flight'] == 0, 'in flight')
    check(m['gpumux_gateway_time_to_first_token_seconds_count'] >= 3, 'ttft')
    check(m['gpumux_gateway_time_to_first_token_seconds_bucket{le="+Inf"}'] ==
          m['gpumux_gateway_time_to_first_token_seconds_count'], 'histogram')
    check(m['gpumux_gateway_stream_tokens_total'] >= 100, 'tokens')
    check(m['gpumux_gateway_relay_bytes_total{direction="to_client"}'] > 1000,
          'bytes')
    check(m['gpumux_gateway_http_responses_total{code="400"}'] > 0, '400s')
    check(sum(v for k, v in m.items() if k.startswith(
        'gpumux_gateway_engine_up{')) == 3, 'engines up')


# ---- through ll: load, disconnects, the re-attach hook -------------------

def engine_of(hdr, slows):
    return next(s for s in slows if s.url == hdr['X-Gpumux-Engine'])


def t_leastload(ll, s1, s2):
    """s1 runs a long request: new requests go to the idle s2."""
    c, r = open_stream(s1, {'prompt': [1], 'max_tokens': 1000,
                            'temperature': 0})
    events = sse(r)
    next(events)
    try:
        # more blocks than a few short requests placed on s2 between two
        # polls count for (ties go to the lower id, s1)
        wait_for(lambda: ll.health()[1]['engines'][0]['kv_blocks_used'] >= 8,
                 'the gateway to see s1 loaded')
        for i in range(4):
            status, j, hdr = ll.post({'prompt': 'x%d' % i, 'max_tokens': 2})
            check(status == 200, 'status %d' % status)
            check(hdr['X-Gpumux-Engine'] == s2.url, 'request %d went to %s' %
                  (i, hdr['X-Gpumux-Engine']))
    finally:
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    wait_for(lambda: s1.metrics()['gpumux_engine_kv_blocks_used'] == 0,
             's1 to cancel')


def t_disconnect(ll, slows):
    """A client leaving mid-stream: the engine cancels the request."""
    gbefore = ll.metrics()
    befores = {s.name: s.metrics() for s in slows}
    c, r = open_stream(ll, {'prompt': [1], 'max_tokens': 1000,
                            'temperature': 0})
    s = engine_of(r.headers, slows)
    events = sse(r)
    next(events)
    next(events)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    key = 'gpumux_engine_requests_finished_total{reason="cancelled"}'
    m = wait_for(lambda: (lambda m: m if m[key] - befores[s.name][key] == 1
                          and m['gpumux_engine_kv_blocks_used'] == 0
                          else None)(s.metrics()), 'the engine to cancel')
    gen = 'gpumux_engine_generation_tokens_total'
    check(m[gen] - befores[s.name][gen] < 1000, 'generated %d' %
          (m[gen] - befores[s.name][gen]))
    g = wait_for(lambda: (lambda m: m if m['gpumux_gateway_requests_in_flight']
                          == 0 else None)(ll.metrics()), 'in flight 0')
    k = 'gpumux_gateway_errors_total{kind="client_gone"}'
    check(g[k] - gbefore[k] == 1, 'client_gone %r' % (g[k] - gbefore[k]))
    # a non-stream request, its client gone while it runs
    befores = {s.name: s.metrics() for s in slows}
    c = ll.conn()
    c.request('POST', '/v1/completions', body=json.dumps(
        {'prompt': [1], 'max_tokens': 1000, 'temperature': 0}))
    s = wait_for(lambda: next((s for s in slows if s.metrics()[
        'gpumux_engine_requests_running'] == 1), None), 'a running request')
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    wait_for(lambda: s.metrics()[key] - befores[s.name][key] == 1,
             'the engine to cancel the non-stream request')


def t_reattach(ll, slows):
    """The migration hook by hand: a greedy stream moves to the other engine
    mid-way (re-run there, the splice cuts what the client has): the client
    gets exactly the tokens of the request never moved."""
    body = {'prompt': 'Once upon a time', 'max_tokens': 250,
            'temperature': 0, 'return_token_ids': True}
    status, ref, _ = slows[0].post(body)
    check(status == 200, 'status %d' % status)
    ref = ref['choices'][0]
    key = 'gpumux_engine_requests_finished_total{reason="cancelled"}'
    befores = {s.name: s.metrics() for s in slows}
    c, r = open_stream(ll, body)
    src = engine_of(r.headers, slows)
    dst = slows[1] if src is slows[0] else slows[0]
    rid = r.headers['X-Gpumux-Request-Id']
    events = sse(r)
    got = [next(events) for _ in range(10)]
    status, _, data = ll.request('POST', '/admin/reattach', {
        'id': rid, 'engine': slows.index(dst) + 1})
    check(status == 200, 'reattach: %d %s' % (status, data))
    got += list(events)
    c.close()
    check(got[-1] == '[DONE]', 'last %r' % got[-2:])
    check(not any('error' in e for e in got if isinstance(e, dict)),
          [e for e in got if isinstance(e, dict) and 'error' in e])
    text, ids, chunks = joined(got)
    check(ids == ref['token_ids'], 'ids differ after the move:\n%s\n%s' %
          (ids, ref['token_ids']))
    check(text == ref['text'], 'text differs:\n%r\n%r' % (text, ref['text']))
    check(len({e['id'] for e in chunks}) == 1, 'completion id changed')
    after = {s.name: s.metrics() for s in slows}
    check(after[src.name][key] - befores[src.name][key] == 1,
          'the source did not cancel')
    req = 'gpumux_engine_requests_total'
    check(after[dst.name][req] - befores[dst.name][req] == 1,
          'the destination did not run it')
    status, _, _ = ll.request('POST', '/admin/reattach',
                              {'id': rid, 'engine': 1})
    check(status == 404, 'a finished stream: %d' % status)


def t_midstream_failure(ll, slows):
    """The engine dies after tokens were sent: an error event, [DONE]; the
    gateway marks it down and sends new requests to the other."""
    c, r = open_stream(ll, {'prompt': [1], 'max_tokens': 1000,
                            'temperature': 0})
    victim = engine_of(r.headers, slows)
    other = slows[1] if victim is slows[0] else slows[0]
    events = sse(r)
    first = [next(events), next(events)]
    victim.proc.kill()
    victim.proc.wait()
    rest = list(events)
    c.close()
    check(rest and rest[-1] == '[DONE]', 'no [DONE]: %r' % rest[-2:])
    err = rest[-2].get('error') if isinstance(rest[-2], dict) else None
    check(err and err['code'] == 'upstream_failed' and
          err['type'] == 'server_error', rest[-2])
    check(first and len(rest) >= 2, 'events %r' % rest[-3:])
    status, h = ll.health()
    check(status == 200 and h['status'] == 'degraded', h)
    states = {e['url']: e['state'] for e in h['engines']}
    check(states[victim.url] == 'down' and states[other.url] == 'up', states)
    for i in range(3):
        status, j, hdr = ll.post({'prompt': 'y%d' % i, 'max_tokens': 2})
        check(status == 200 and hdr['X-Gpumux-Engine'] == other.url,
              '%d %s' % (status, hdr['X-Gpumux-Engine']))
    m = ll.metrics()
    check(m['gpumux_gateway_errors_total{kind="stream_broken"}'] >= 1, 'count')


# ---- engines that die ------------------------------------------------------

def t_kill_retry(lazy, e1, e4):
    """lazy polls once a minute: e4 dies unseen; the requests placed on it
    fail to connect and are retried on e1 (streams too); /health shows it."""
    e4.proc.kill()
    e4.proc.wait()
    before = lazy.metrics()
    for i in range(4):
        if i % 2:
            text, _, events, hdr = stream(lazy, {'prompt': 'z', 'max_tokens': 5})
            check(events[-1] == '[DONE]' and text, events)
        else:
            status, j, hdr = lazy.post({'prompt': 'z', 'max_tokens': 5})
            check(status == 200, 'status %d: %s' % (status, j))
        check(hdr['X-Gpumux-Engine'] == e1.url, hdr['X-Gpumux-Engine'])
    m = lazy.metrics()
    r = 'gpumux_gateway_retries_total'
    check(m[r] - before[r] >= 1, 'retries %r' % (m[r] - before[r]))
    k = 'gpumux_gateway_errors_total{kind="connect"}'
    check(m[k] - before[k] >= 1, 'connect errors')
    status, h = lazy.health()
    states = {e['url']: e['state'] for e in h['engines']}
    check(status == 200 and h['status'] == 'degraded' and
          states[e4.url] == 'down', h)


def t_engine_killed(rr, e3, alive):
    """rr polls every 50 ms: e3 killed is seen down, requests go to the
    others, /health says so."""
    e3.proc.kill()
    e3.proc.wait()
    h = wait_for(lambda: (lambda h: h if any(
        e['url'] == e3.url and e['state'] == 'down'
        for e in h[1]['engines']) else None)(rr.health()), 'e3 down', 5)
    check(h[0] == 200 and h[1]['status'] == 'degraded', h)
    down = [e for e in h[1]['engines'] if e['url'] == e3.url][0]
    check(down['error'], down)
    seen = set()
    for i in range(6):
        status, j, hdr = rr.post({'prompt': 'k%d' % i, 'max_tokens': 3})
        check(status == 200, 'status %d' % status)
        seen.add(hdr['X-Gpumux-Engine'])
    check(seen == {e.url for e in alive}, 'went to %r' % seen)
    m = rr.metrics()
    check(m['gpumux_gateway_engine_up{engine="%s"}' % e3.url] == 0, 'up')


def t_no_engine(lazy, e1):
    """Every engine gone: 503 no_engine, and /health 503."""
    e1.proc.kill()
    e1.proc.wait()
    status, j, _ = lazy.post({'prompt': 'z', 'max_tokens': 2})
    check(status in (502, 503) and j['error']['type'] == 'server_error', j)
    status, j, _ = lazy.post({'prompt': 'z', 'max_tokens': 2})
    check(status == 503 and j['error']['code'] == 'no_engine', j)
    status, h = lazy.health()
    check(status == 503 and h['status'] == 'no_engines', h)
    status, _, _ = lazy.request('GET', '/v1/models')
    check(status == 503, 'models %d' % status)


# ---- relay overhead (reported, not asserted) -------------------------------

def measure(srv, n, conc):
    """n greedy streams of 127 tokens, conc at a time: tokens/s, TTFTs"""
    body = {'prompt': [1], 'max_tokens': 200, 'temperature': 0}
    ttfts, tokens = [], [0]
    lock = threading.Lock()

    def one():
        t0 = time.time()
        c, r = open_stream(srv, body)
        first = None
        k = 0
        for e in sse(r):
            if isinstance(e, dict) and e.get('choices'):
                if first is None:
                    first = time.time() - t0
                k += 1
        c.close()
        with lock:
            ttfts.append(first)
            tokens[0] += k

    def worker(m):
        for _ in range(m):
            one()
    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(n // conc,))
          for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    return tokens[0] / wall, statistics.median(ttfts) * 1000, tokens[0]


def cpu_seconds(p):
    """user + system CPU time of process p, all its threads"""
    with open('/proc/%d/stat' % p.proc.pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def t_overhead(gw1, e):
    """Streams direct to one engine vs through a gateway in front of that
    engine alone, interleaved rounds, best of 3 (the machine is shared),
    and the gateway's CPU time per relayed token over all its rounds."""
    rows = []
    cpu, toks = 0.0, 0
    for conc in (1, 4):
        best = {'direct': (0, 0, 0), 'gateway': (0, 0, 0)}
        for _ in range(3):
            for name, srv in (('direct', e), ('gateway', gw1)):
                c0 = cpu_seconds(gw1)
                r = measure(srv, 8, conc)
                if name == 'gateway':
                    cpu += cpu_seconds(gw1) - c0
                    toks += r[2]
                if r[0] > best[name][0]:
                    best[name] = r
        rows.append((conc, best))
    print('relay overhead (%s, greedy streams of 127 tokens, best of 3 '
          'rounds; tok/s counts events):' % os.path.basename(MODEL))
    for conc, best in rows:
        d, g = best['direct'], best['gateway']
        print('  %d stream%s: direct %6.0f tok/s TTFT %5.2f ms | gateway '
              '%6.0f tok/s TTFT %5.2f ms | ratio %.2f' %
              (conc, 's' if conc > 1 else ' ', d[0], d[1], g[0], g[1],
               g[0] / d[0] if d[0] else 0))
    print('  gateway CPU: %.1f us per relayed token (%d tokens)' %
          (cpu / toks * 1e6 if toks else 0, toks))


def t_cli(e1):
    """Exit statuses that need no running gateway, and a gateway whose
    engines are all down at start."""
    def status(*args):
        p = subprocess.run([GATEWAY, *args], capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stderr
    for args, want in [((), 2), (('--engine',), 2),
                       (('--engine', 'localhost:1'), 2),
                       (('--engine', 'http://a:1', '--policy', 'nope'), 2),
                       (('--engine', 'http://a:1', '--poll-ms', '0'), 2),
                       (('--engine', 'http://a:1', 'extra'), 2),
                       (('--engine', 'http://a:1', '--bogus'), 2),
                       (('--engine', 'http://a:1', '--engine', 'http://a:1',
                         '--listen', '127.0.0.1:0'), 1),
                       (('--engine', 'http://a:1', '--listen', 'nonsense'),
                        1)]:
        rc, err = status(*args)
        check(rc == want, '%s: status %d, expected %d (%s)' %
              (args, rc, want, err.strip()))
    p = subprocess.run([GATEWAY, '--help'], capture_output=True, text=True)
    check(p.returncode == 0 and '--engine URL' in p.stdout, 'help')
    dead = os.path.join(TMP, 'nobody.sock')
    g = gateway('gw-dead', [type('E', (), {'url': 'unix:' + dead})()])
    status, h = g.health()
    check(status == 503 and h['status'] == 'no_engines' and
          h['engines'][0]['state'] == 'down', h)
    status, j, _ = g.post({'prompt': 'x', 'max_tokens': 1})
    check(status == 503 and j['error']['code'] == 'no_engine', j)
    check(g.stop() == 0, 'exit status %r' % g.rc)


def stop_for_logs(p):
    """gateways must exit 0 on SIGTERM; engines are killed"""
    if p.name.startswith('gw-'):
        return p.stop()
    p.stop(signal.SIGKILL)
    return 0


def main():
    global GATEWAY, ENGINE
    if len(sys.argv) != 3:
        print('usage: test-gateway.py GATEWAY ENGINE', file=sys.stderr)
        return 2
    GATEWAY, ENGINE = sys.argv[1:]
    if not (os.access(MODEL, os.R_OK) and os.access(TOK, os.R_OK)):
        print('SKIP gateway: %s not found (set GPUMUX_MODEL_DIR)' % MODEL)
        return 77
    slow_path = os.path.join(TMP, 'slow.bin')
    write_slow_model(slow_path)
    e1 = engine('e1', MODEL)
    e2 = engine('e2', MODEL)
    e3 = engine('e3', MODEL, listen='unix:' + os.path.join(TMP, 'e3.sock'))
    e4 = engine('e4', MODEL)
    s1 = engine('s1', slow_path, '--kv-blocks', '256')
    s2 = engine('s2', slow_path, '--kv-blocks', '256')
    # a loaded machine may delay a poll: staleness is not what these test
    rr = gateway('gw-rr', [e1, e2, e3], '--policy', 'roundrobin',
                 '--max-body', '65536', '--stale-ms', '3000')
    ll = gateway('gw-ll', [s1, s2], '--policy', 'leastload', '--admin',
                 '--stale-ms', '3000')
    lazy = gateway('gw-lazy', [e1, e4], '--policy', 'roundrobin',
                   '--poll-ms', '60000')
    solo = gateway('gw-solo', [e2], '--policy', 'llumnix')

    run('cli', t_cli, e1)
    run('health_models', t_health_models, rr, e1)
    run('same_output_as_engine', t_same_output, rr, e1)
    run('roundrobin_even', t_roundrobin, rr, [e1, e2, e3])
    run('bad_requests_relayed', t_bad_requests, rr, e1)
    run('metrics', t_metrics, rr)
    run('leastload_to_idle', t_leastload, ll, s1, s2)
    run('disconnect_cancels', t_disconnect, ll, [s1, s2])
    run('reattach_hook', t_reattach, ll, [s1, s2])
    run('midstream_failure_error_event', t_midstream_failure, ll, [s1, s2])
    run('dead_engine_retry', t_kill_retry, lazy, e1, e4)
    run('engine_killed_health', t_engine_killed, rr, e3, [e1, e2])
    try:
        t_overhead(solo, e2)
    except Exception as e:  # noqa: BLE001 - reported, not asserted
        print('relay overhead: not measured: %r' % e)
    run('no_engine_503', t_no_engine, lazy, e1)
    T.check_logs(stop_for_logs)
    return T.summary()


if __name__ == '__main__':
    try:
        rc = main()
    finally:
        cleanup(TMP)
    sys.exit(rc)
