import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MASK, Redactor } from '../../agent/redact.js';

const r = new Redactor();
const red = (...args: string[]) => r.redact(args).args;

test('default rules mask flag values in both forms', () => {
  assert.deepEqual(red('--password=hunter2', '--user', 'bob'), [`--password=${MASK}`, '--user', 'bob']);
  assert.deepEqual(red('--token', 'abc123', 'run'), ['--token', MASK, 'run']);
  assert.deepEqual(red('-u', 'root', '-p', 's3cret'), ['-u', 'root', '-p', MASK]);
  assert.deepEqual(red('--api-key=k', '--client-secret', 'x'), [`--api-key=${MASK}`, '--client-secret', MASK]);
});

test('default rules mask URL credentials, secret KEY= pairs and Authorization headers', () => {
  assert.deepEqual(red('https://alice:pa55@db.example.com:5432/x'), [`https://alice:${MASK}@db.example.com:5432/x`]);
  assert.deepEqual(red('postgres://u:p@h/db?sslmode=disable'), [`postgres://u:${MASK}@h/db?sslmode=disable`]);
  assert.deepEqual(red('DB_PASSWORD=pw', 'AWS_SECRET=s', 'GH_TOKEN=t', 'KEY=v', 'PATH=/usr/bin'), [`DB_PASSWORD=${MASK}`, `AWS_SECRET=${MASK}`, `GH_TOKEN=${MASK}`, `KEY=${MASK}`, 'PATH=/usr/bin']);
  assert.deepEqual(red('-H', 'Authorization: Bearer eyJabc', 'https://api'), ['-H', `Authorization: ${MASK}`, 'https://api']);
  assert.deepEqual(red('http://example.com/path', '--verbose'), ['http://example.com/path', '--verbose']);
  assert.equal(r.redact(['ls', '-la']).changed, false);
  assert.equal(r.redact(['--password', 'x']).changed, true);
});

test('users add rules and can turn the defaults off', () => {
  const custom = new Redactor({ flags: ['--db-pass'], patterns: ['session=([a-f0-9]+)'] });
  assert.deepEqual(custom.redact(['--db-pass', 'x', 'session=deadbeef;path=/', '--password=y']).args, ['--db-pass', MASK, `session=${MASK};path=/`, `--password=${MASK}`]);
  const none = new Redactor({ defaults: false, patterns: ['secret'] });
  assert.deepEqual(none.redact(['--password=y', 'my-secret-value']).args, ['--password=y', `my-${MASK}-value`]);
  assert.throws(() => new Redactor({ patterns: ['(unclosed'] }), /redaction: invalid pattern/);
});
