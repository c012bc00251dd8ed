#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""HTTP tests of `gpumux-engine serve`, driven with the standard library.

Usage: test-serve.py PATH-TO-gpumux-engine

Runs the real server on the shared model ($GPUMUX_MODEL_DIR/aidreams260K,
default ../shared/models) and on a slower checkpoint with random weights it
writes itself (for requests that must still be running when a client leaves
or the server stops).  Prints PASS/FAIL/SKIP lines, then "N passed, N
failed"; exits 0, 1 on a failure, 77 when the shared model is absent.  A
server that exits other than 0 on SIGTERM, or prints a sanitizer report,
fails the run (so the ASan/UBSan build can be tested the same way).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in tests/lib
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'lib'))
from httptest import (MODEL, PROCS, TOK, Proc, Tally, check,  # noqa: E402
                      cleanup, joined, make_tmp, open_stream, sse,
                      write_slow_model)

BIN = None
TMP = make_tmp('gme-serve-')
T = Tally('serve_')
run = T.run


class Server(Proc):
    """One `gpumux-engine serve` process on an ephemeral port."""

    def __init__(self, model, *extra, listen='127.0.0.1:0'):
        super().__init__('server%d' % len(PROCS),
                         [BIN, 'serve', '--model', model, '--tokenizer', TOK,
                          '--listen', listen, *extra], TMP)

    def post(self, obj, path='/v1/completions'):
        status, _, data = self.request('POST', path, obj)
        return status, json.loads(data)

    def wait_metric(self, pred, timeout=10):
        end = time.time() + timeout
        while True:
            m = self.metrics()
            if pred(m):
                return m
            if time.time() > end:
                return m
            time.sleep(0.02)



def stream(srv, body):
    """POST a streaming completion: (text, token ids, events)."""
    c, r = open_stream(srv, body)
    events = list(sse(r))
    c.close()
    text, ids, _ = joined(events)
    return text, ids, events


def generate(*args):
    """`gpumux-engine generate` on the shared model: stdout."""
    out = subprocess.run([BIN, 'generate', '--model', MODEL,
                          '--tokenizer', TOK, *args],
                         capture_output=True, text=True, timeout=120,
                         check=True).stdout
    return out[:-1] if out.endswith('\n') else out


def check_error(status, body, want_status, param=None):
    check(status == want_status, 'status %d, expected %d: %s' %
          (status, want_status, body))
    err = body.get('error') if isinstance(body, dict) else None
    check(isinstance(err, dict), 'no error object: %s' % body)
    check(set(err) == {'message', 'type', 'param', 'code'},
          'error keys %s' % sorted(err))
    check(isinstance(err['message'], str) and err['message'],
          'message %r' % err['message'])
    check(isinstance(err['type'], str), 'type %r' % err['type'])
    if param:
        check(err['param'] == param, 'param %r, expected %r' %
              (err['param'], param))


# ---- tests on the shared model ----------------------------------------

def t_health(s):
    status, hdr, data = s.request('GET', '/health')
    check(status == 200, 'status %d' % status)
    check(json.loads(data) == {'status': 'ok'}, data)
    check(hdr['Content-Type'] == 'application/json', hdr['Content-Type'])
    status, _, data = s.request('HEAD', '/health')
    check(status == 200 and data == b'', 'HEAD: %d %r' % (status, data))


def t_models(s):
    status, _, data = s.request('GET', '/v1/models')
    j = json.loads(data)
    check(status == 200, 'status %d' % status)
    check(j['object'] == 'list' and len(j['data']) == 1, j)
    m = j['data'][0]
    check(m['id'] == 'aidreams260K' and m['object'] == 'model', m)
    check(isinstance(m['created'], int), m)


def t_greedy_matches_generate(s):
    prompt = 'Once upon a time'
    ids = [int(x) for x in generate('--prompt', prompt, '-t', '0', '-n', '100',
                                    '--ids').split()]
    text = generate('--prompt', prompt, '-t', '0', '-n', '100')
    status, j = s.post({'prompt': prompt, 'max_tokens': 100,
                        'temperature': 0, 'return_token_ids': True})
    check(status == 200, 'status %d: %s' % (status, j))
    ch = j['choices'][0]
    check(ch['token_ids'] == ids, 'ids differ:\n%s\n%s' % (ch['token_ids'], ids))
    check(ch['text'] == text, 'text differs:\n%r\n%r' % (ch['text'], text))
    check(j['object'] == 'text_completion' and j['model'] == 'aidreams260K',
          j)
    check(j['id'].startswith('cmpl-') and isinstance(j['created'], int), j)
    check(ch['index'] == 0 and ch['finish_reason'] in ('stop', 'length'), ch)
    u = j['usage']
    check(u['prompt_tokens'] == len(ch['prompt_token_ids']) and
          u['completion_tokens'] == len(ids) and
          u['total_tokens'] == u['prompt_tokens'] + len(ids), u)
    check((ch['finish_reason'] == 'length') == (len(ids) == 100), ch)


def t_sampling_matches_generate(s):
    ids = [int(x) for x in generate('--prompt', 'The robot', '-t', '0.8',
                                    '-p', '0.9', '-s', '7', '-n', '60',
                                    '--ids').split()]
    body = {'prompt': 'The robot', 'max_tokens': 60, 'temperature': 0.8,
            'top_p': 0.9, 'seed': 7, 'return_token_ids': True}
    status, j = s.post(body)
    check(status == 200, 'status %d' % status)
    check(j['choices'][0]['token_ids'] == ids, 'ids differ')
    status, j2 = s.post(body)
    check(j2['choices'][0]['text'] == j['choices'][0]['text'],
          'same seed, different text')


def t_stream(s):
    body = {'prompt': 'Once upon a time', 'max_tokens': 50, 'temperature': 0,
            'return_token_ids': True}
    status, j = s.post(body)
    check(status == 200, 'status %d' % status)
    text, ids, events = stream(s, dict(body, stream_options={
        'include_usage': True}))
    check(events[-1] == '[DONE]', 'last event %r' % events[-1])
    check(text == j['choices'][0]['text'], 'stream text %r vs %r' %
          (text, j['choices'][0]['text']))
    check(ids == j['choices'][0]['token_ids'], 'stream ids differ')
    chunks = [e for e in events[:-1] if e.get('choices')]
    check(len(chunks) >= 2, '%d chunks' % len(chunks))
    for e in chunks[:-1]:
        check(e['choices'][0]['finish_reason'] is None, e)
        check(e['object'] == 'text_completion' and e['id'] == chunks[0]['id'],
              e)
    check(chunks[-1]['choices'][0]['finish_reason'] ==
          j['choices'][0]['finish_reason'], chunks[-1])
    usage = events[-2]
    check(usage['choices'] == [] and usage['usage'] == j['usage'], usage)
    # without include_usage: no usage chunk
    _, _, events = stream(s, {'prompt': 'Hi', 'max_tokens': 5})
    check(all('usage' not in e for e in events[:-1]), events)


def t_concurrent(s, n=16):
    bodies = [{'prompt': 'Story %d:' % i, 'max_tokens': 40 + i,
               'temperature': 0.9, 'top_p': 0.95, 'seed': 1000 + i,
               'return_token_ids': True} for i in range(n)]
    alone = []
    for b in bodies:
        status, j = s.post(b)
        check(status == 200, 'status %d' % status)
        alone.append((j['choices'][0]['text'], j['choices'][0]['token_ids']))
    got = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait()
            if i % 2:
                text, ids, _ = stream(s, bodies[i])
                got[i] = (text, ids)
            else:
                status, j = s.post(bodies[i])
                got[i] = (j['choices'][0]['text'],
                          j['choices'][0]['token_ids']) if status == 200 \
                    else status
        except Exception as e:  # noqa: BLE001
            got[i] = repr(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(n):
        check(got[i] == alone[i], 'request %d: %r vs %r' %
              (i, got[i], alone[i]))
    m = s.wait_metric(lambda m: m['gpumux_engine_slots_in_use'] == 0)
    check(m['gpumux_engine_kv_blocks_used'] == 0, 'KV blocks still used')


def t_keep_alive(s):
    c = s.conn()
    for i in range(3):
        status, _, data = s.request('POST', '/v1/completions',
                                    {'prompt': 'x', 'max_tokens': 3}, conn=c)
        check(status == 200, 'status %d' % status)
    status, _, data = s.request('GET', '/health', conn=c)
    check(status == 200, 'status %d' % status)
    c.close()


def t_bad_requests(s):
    for body, param in [
            (b'{bad json', None), (b'', None), (b'[1, 2]', None),
            (b'{"prompt": "x"} trailing', None),
            (b'{"prompt": "a", "prompt": "b"}', None),
            (b'{"prompt": "\xff\xfe"}', None),
            ({}, 'prompt'), ({'prompt': None}, 'prompt'),
            ({'prompt': 5}, 'prompt'), ({'prompt': {}}, 'prompt'),
            ({'prompt': []}, 'prompt'), ({'prompt': ['a', 'b']}, 'prompt'),
            ({'prompt': [1, 'a']}, 'prompt'), ({'prompt': [1, 512]}, 'prompt'),
            ({'prompt': [-1]}, 'prompt'),
            ({'prompt': 'x', 'max_tokens': '5'}, 'max_tokens'),
            ({'prompt': 'x', 'max_tokens': 1.5}, 'max_tokens'),
            ({'prompt': 'x', 'max_tokens': -1}, 'max_tokens'),
            ({'prompt': 'x', 'max_tokens': True}, 'max_tokens'),
            ({'prompt': 'x', 'temperature': 'hot'}, 'temperature'),
            ({'prompt': 'x', 'temperature': -0.5}, 'temperature'),
            ({'prompt': 'x', 'temperature': 3}, 'temperature'),
            ({'prompt': 'x', 'top_p': 0}, 'top_p'),
            ({'prompt': 'x', 'top_p': 1.5}, 'top_p'),
            ({'prompt': 'x', 'seed': 'abc'}, 'seed'),
            ({'prompt': 'x', 'seed': 1.5}, 'seed'),
            ({'prompt': 'x', 'stream': 'yes'}, 'stream'),
            ({'prompt': 'x', 'stream_options': 1}, 'stream_options'),
            ({'prompt': 'x', 'n': 2}, 'n'),
            ({'prompt': 'x', 'model': 7}, 'model'),
            ({'prompt': 'word ' * 2000}, 'prompt'),
            ({'prompt': 'word ' * 100}, 'prompt'),
            ({'prompt': [1] * 128}, 'prompt')]:
        status, _, data = s.request('POST', '/v1/completions', body)
        check_error(status, json.loads(data), 400, param)
    status, j = s.post({'prompt': 'x', 'model': 'gpt-4'})
    check_error(status, j, 404, 'model')
    # deep nesting is refused by the parser's depth limit, not the stack
    status, _, data = s.request('POST', '/v1/completions',
                                '{"x": ' + '[' * 30000 + ']' * 30000 + '}')
    check_error(status, json.loads(data), 400)
    # the server is still fine
    status, j = s.post({'prompt': 'x', 'max_tokens': 2})
    check(status == 200, 'status %d after bad requests' % status)


def t_lenient(s):
    # unknown fields ignored; nulls mean "default"; one-string array
    status, j = s.post({'prompt': ['Hi'], 'max_tokens': 4, 'foo': {'b': [1]},
                        'temperature': None, 'stop': None, 'echo': False,
                        'model': 'aidreams260K'})
    check(status == 200, 'status %d: %s' % (status, j))
    check(j['usage']['completion_tokens'] <= 4, j)
    status, j = s.post({'prompt': [1, 400, 300], 'max_tokens': 3,
                        'return_token_ids': True})
    check(status == 200 and j['choices'][0]['prompt_token_ids'] ==
          [1, 400, 300], j)
    status, j = s.post({'prompt': 'x', 'max_tokens': 0})
    check(status == 200 and j['choices'][0]['text'] == '' and
          j['usage']['completion_tokens'] == 0 and
          j['choices'][0]['finish_reason'] == 'length', j)


def t_huge_max_tokens(s):
    # max_tokens beyond the context is clamped: generation ends at seq_len
    for n in (10 ** 6, 2 ** 62):
        status, j = s.post({'prompt': [1], 'max_tokens': n,
                            'temperature': 0})
        check(status == 200, 'status %d: %s' % (status, j))
        u = j['usage']
        check(u['total_tokens'] <= 128, u)
        check(j['choices'][0]['finish_reason'] in ('length', 'stop'), j)
    status, _, data = s.request('POST', '/v1/completions',
                                '{"prompt": "x", "max_tokens": 1e400}')
    check(status == 400, 'status %d' % status)


def t_body_too_large(s):
    big = json.dumps({'prompt': 'a' * 70000})
    status, _, data = s.request('POST', '/v1/completions', big)
    check_error(status, json.loads(data), 413)

    def chunks():
        for _ in range(70):
            yield b' ' * 1000
    c = s.conn()
    c.request('POST', '/v1/completions', body=chunks(), encode_chunked=True)
    r = c.getresponse()
    check_error(r.status, json.loads(r.read()), 413)
    c.close()


def t_routes(s):
    status, _, data = s.request('GET', '/nope')
    check_error(status, json.loads(data), 404)
    status, _, data = s.request('GET', '/v1/chat/completions')
    check_error(status, json.loads(data), 404)
    status, hdr, data = s.request('GET', '/v1/completions')
    check_error(status, json.loads(data), 405)
    check(hdr['Allow'] == 'POST', 'Allow %r' % hdr['Allow'])
    status, hdr, data = s.request('DELETE', '/health')
    check_error(status, json.loads(data), 405)
    status, _, data = s.request('POST', '/metrics', b'{}')
    check_error(status, json.loads(data), 405)


def t_metrics(s):
    m = s.metrics()
    for k in ('requests_total', 'generation_tokens_total',
              'prompt_tokens_total', 'requests_running', 'requests_waiting',
              'kv_blocks_used', 'kv_blocks_total', 'kv_bytes_per_token',
              'time_to_first_token_seconds_count',
              'time_to_first_token_seconds_sum',
              'request_duration_seconds_count'):
        check('gpumux_engine_' + k in m, 'missing %s' % k)
    check(m['gpumux_engine_kv_blocks_total'] > 0, 'no KV blocks')
    check(m['gpumux_engine_requests_total'] > 0, 'no requests counted')
    check(m['gpumux_engine_time_to_first_token_seconds_bucket{le="+Inf"}'] ==
          m['gpumux_engine_time_to_first_token_seconds_count'], 'histogram')
    check(m['gpumux_engine_http_responses_total{code="400"}'] > 0,
          'no 400 counted')
    _, hdr, _ = s.request('GET', '/metrics')
    check(hdr['Content-Type'].startswith('text/plain'), hdr['Content-Type'])


def t_disconnect_stream_short(s):
    """Leaving a stream on the shared model: KV back to baseline."""
    base = s.metrics()['gpumux_engine_kv_blocks_used']
    for _ in range(5):
        c = s.conn()
        c.request('POST', '/v1/completions', body=json.dumps(
            {'prompt': 'Once', 'max_tokens': 120, 'stream': True}))
        r = c.getresponse()
        r.readline()
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    m = s.wait_metric(lambda m: m['gpumux_engine_slots_in_use'] == 0 and
                      m['gpumux_engine_kv_blocks_used'] == base)
    check(m['gpumux_engine_slots_in_use'] == 0, 'slots still in use')
    check(m['gpumux_engine_kv_blocks_used'] == base, 'KV %d, baseline %d' %
          (m['gpumux_engine_kv_blocks_used'], base))


def t_unix_socket():
    path = os.path.join(TMP, 'gme.sock')
    s = Server(MODEL, '--threads', '1', listen='unix:' + path)

    c = s.conn(timeout=30)
    c.request('POST', '/v1/completions', body=json.dumps(
        {'prompt': 'Hi', 'max_tokens': 3}))
    r = c.getresponse()
    check(r.status == 200, 'status %d' % r.status)
    json.loads(r.read())
    c.close()
    check(s.stop(signal.SIGINT) == 0, 'exit status %r' % s.rc)
    check(not os.path.exists(path), 'socket file left behind')


# ---- tests on the slow model ------------------------------------------

def t_overload_and_disconnect(slow):
    """max-seqs 1, max-waiting 1: two long streams fill the server, a third
    request gets 429; both clients leave mid-request: their requests are
    cancelled and every KV block comes back."""
    before = slow.metrics()
    body = json.dumps({'prompt': [1], 'max_tokens': 1000, 'temperature': 0,
                       'stream': True})
    c1 = slow.conn()
    c1.request('POST', '/v1/completions', body=body)
    r1 = c1.getresponse()
    check(r1.status == 200, 'status %d' % r1.status)
    events = sse(r1)
    first = [next(events), next(events)]
    check(all(e['choices'][0]['finish_reason'] is None for e in first),
          first)
    c2 = slow.conn()
    c2.request('POST', '/v1/completions', body=body)
    m = slow.wait_metric(lambda m: m['gpumux_engine_slots_in_use'] == 2 and
                         m['gpumux_engine_requests_waiting'] == 1)
    check(m['gpumux_engine_slots_in_use'] == 2, 'slots %r' %
          m['gpumux_engine_slots_in_use'])
    check(m['gpumux_engine_requests_running'] == 1 and
          m['gpumux_engine_requests_waiting'] == 1, 'running %r waiting %r' %
          (m['gpumux_engine_requests_running'],
           m['gpumux_engine_requests_waiting']))
    check(m['gpumux_engine_kv_blocks_used'] > 0, 'no KV in use')
    status, hdr, data = slow.request('POST', '/v1/completions',
                                     {'prompt': 'x', 'max_tokens': 1})
    check_error(status, json.loads(data), 429)
    check(hdr['Retry-After'] == '1', 'Retry-After %r' % hdr['Retry-After'])
    # both clients leave: the running one mid-stream, the waiting one
    # before its first token
    c1.sock.shutdown(socket.SHUT_RDWR)
    c1.close()
    c2.sock.shutdown(socket.SHUT_RDWR)
    c2.close()
    m = slow.wait_metric(lambda m: m['gpumux_engine_slots_in_use'] == 0 and
                         m['gpumux_engine_kv_blocks_used'] == 0)
    check(m['gpumux_engine_slots_in_use'] == 0, 'slots still in use')
    check(m['gpumux_engine_kv_blocks_used'] == 0, 'KV %r blocks still used' %
          m['gpumux_engine_kv_blocks_used'])
    key = 'gpumux_engine_requests_finished_total{reason="cancelled"}'
    check(m[key] - before[key] == 2, 'cancelled %r' % (m[key] - before[key]))
    gen = 'gpumux_engine_generation_tokens_total'
    check(m[gen] - before[gen] < 1000, 'generated %r tokens' %
          (m[gen] - before[gen]))


def t_disconnect_nonstream(slow):
    before = slow.metrics()
    c = slow.conn()
    c.request('POST', '/v1/completions', body=json.dumps(
        {'prompt': [1], 'max_tokens': 1000, 'temperature': 0}))
    slow.wait_metric(lambda m: m['gpumux_engine_requests_running'] == 1)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    m = slow.wait_metric(lambda m: m['gpumux_engine_slots_in_use'] == 0)
    key = 'gpumux_engine_requests_finished_total{reason="cancelled"}'
    check(m[key] - before[key] == 1, 'cancelled %r' % (m[key] - before[key]))
    check(m['gpumux_engine_kv_blocks_used'] == 0, 'KV still used')


def t_sigterm_in_flight(slow):
    """SIGTERM with a request running and --drain-timeout 0: the request is
    cancelled (an error event, or the connection closes) and the server
    exits 0."""
    c = slow.conn()
    c.request('POST', '/v1/completions', body=json.dumps(
        {'prompt': [1], 'max_tokens': 1000, 'temperature': 0,
         'stream': True}))
    r = c.getresponse()
    events = sse(r)
    next(events)
    t0 = time.time()
    slow.proc.send_signal(signal.SIGTERM)
    rest = []
    try:
        for e in events:
            rest.append(e)
    except (ConnectionError, http.client.HTTPException):
        pass
    c.close()
    rc = slow.stop()
    check(rc == 0, 'exit status %r' % rc)
    check(time.time() - t0 < 10, 'took %.1f s to exit' % (time.time() - t0))
    finished = [e for e in rest if isinstance(e, dict) and e.get('choices') and
                e['choices'][0]['finish_reason']]
    check(not finished, 'the request finished instead of being cancelled')
    if rest and rest[-1] == '[DONE]':
        check(rest[-2].get('error', {}).get('code') == 'shutting_down',
              rest[-2])


def t_sigterm_drains(s):
    """SIGTERM: new requests are refused, in-flight ones finish, exit 0."""
    c = s.conn()
    c.request('POST', '/v1/completions', body=json.dumps(
        {'prompt': 'Once', 'max_tokens': 100, 'stream': True}))
    r = c.getresponse()
    events = sse(r)
    next(events)
    s.proc.send_signal(signal.SIGTERM)
    rest = list(events)
    c.close()
    check(rest and rest[-1] == '[DONE]', 'stream did not finish: %r' %
          rest[-2:])
    rc = s.stop()
    check(rc == 0, 'exit status %r' % rc)


def t_cli():
    """Exit statuses of `serve` that need no server."""
    def status(*args, env=None):
        p = subprocess.run([BIN, 'serve', *args], capture_output=True,
                           text=True, timeout=60, env=env)
        return p.returncode, p.stderr
    for args, want in [((), 2), (('--model',), 2),
                       (('--model', MODEL, '--bogus'), 2),
                       (('--model', MODEL, '--max-seqs', '0'), 2),
                       (('--model', MODEL, '--threads', 'x'), 2),
                       (('--model', MODEL, 'extra'), 2),
                       (('--model', '/nonexistent.bin', '--tokenizer', TOK),
                        1),
                       (('--model', MODEL, '--tokenizer', MODEL), 1),
                       (('--model', MODEL, '--listen', 'nonsense'), 1),
                       (('--model', MODEL, '--listen', '127.0.0.1:99999'),
                        1)]:
        rc, err = status(*args)
        check(rc == want, '%s: status %d, expected %d (%s)' %
              (args, rc, want, err.strip()))
    # --attach with no daemon (a bus that is not there): a clear refusal
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=' +
               os.path.join(TMP, 'no-bus'))
    env.pop('GPUMUX_LEASE_FD', None)
    rc, err = status('--model', MODEL, '--tokenizer', TOK, '--listen',
                     '127.0.0.1:0', '--attach', 'tenant0', env=env)
    check(rc == 1 and "cannot attach as 'tenant0'" in err,
          '--attach: %d %r' % (rc, err))
    for args in (('--weight', '5'), ('--attach', 't', '--weight', '0'),
                 ('--attach', ''), ('--attach', 'x' * 32),
                 ('--attach', 't', '--min-cus', '9', '--max-cus', '4'),
                 ('--attach', 't', '--pinned-quota', '12Q')):
        rc, err = status('--model', MODEL, *args, env=env)
        check(rc == 2, '%s: status %d (%s)' % (args, rc, err.strip()))
    p = subprocess.run([BIN, '--help'], capture_output=True, text=True)
    check(p.returncode == 0 and 'serve --model' in p.stdout, 'help')


def main():
    global BIN
    if len(sys.argv) != 2:
        print('usage: test-serve.py PATH-TO-gpumux-engine', file=sys.stderr)
        return 2
    BIN = sys.argv[1]
    if not (os.access(MODEL, os.R_OK) and os.access(TOK, os.R_OK)):
        print('SKIP serve: %s not found (set GPUMUX_MODEL_DIR)' % MODEL)
        return 77
    run('cli', t_cli)
    s = Server(MODEL, '--threads', '2', '--max-seqs', '16',
               '--max-waiting', '32', '--max-body', '65536')
    run('health', t_health, s)
    run('models', t_models, s)
    run('greedy_matches_generate', t_greedy_matches_generate, s)
    run('sampling_matches_generate', t_sampling_matches_generate, s)
    run('stream', t_stream, s)
    run('concurrent_16_same_tokens', t_concurrent, s)
    run('keep_alive', t_keep_alive, s)
    run('bad_requests_400', t_bad_requests, s)
    run('lenient_fields', t_lenient, s)
    run('huge_max_tokens_clamped', t_huge_max_tokens, s)
    run('body_too_large_413', t_body_too_large, s)
    run('routes_404_405', t_routes, s)
    run('disconnect_stream_kv_baseline', t_disconnect_stream_short, s)
    run('metrics', t_metrics, s)
    run('unix_socket', t_unix_socket)

    slow_path = os.path.join(TMP, 'slow.bin')
    write_slow_model(slow_path)
    slow = Server(slow_path, '--threads', '1', '--max-seqs', '1',
                  '--max-waiting', '1', '--kv-blocks', '64',
                  '--drain-timeout', '0')
    run('overload_429_and_disconnect_cancels', t_overload_and_disconnect,
        slow)
    run('disconnect_nonstream_cancels', t_disconnect_nonstream, slow)
    run('sigterm_cancels_in_flight', t_sigterm_in_flight, slow)
    run('sigterm_drains', t_sigterm_drains, s)
    T.check_logs()
    return T.summary()


if __name__ == '__main__':
    try:
        rc = main()
    finally:
        cleanup(TMP)
    sys.exit(rc)
