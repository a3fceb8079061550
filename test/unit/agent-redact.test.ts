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

test('secret query and fragment parameters in URLs are masked, their names kept', () => {
  assert.deepEqual(red('-s', 'http://alice:S3cr3tPw@127.0.0.1:18800/x?token=abc123&api_key=zzz'), ['-s', `http://alice:${MASK}@127.0.0.1:18800/x?token=${MASK}&api_key=${MASK}`]);
  const names = ['token', 'access_token', 'refresh_token', 'id_token', 'api_key', 'apikey', 'API-KEY', 'key', 'secret', 'client_secret', 'password', 'passwd', 'pwd', 'auth', 'sig', 'signature', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token', 'X-Goog-Signature', 'private_token', 'Token'];
  for (const name of names) {
    assert.deepEqual(red(`https://h.example/p?page=2&${name}=v4lue&sort=asc`), [`https://h.example/p?page=2&${name}=${MASK}&sort=asc`], name);
  }
  assert.deepEqual(red('https://app.example/cb#access_token=ya29.x&state=s1'), [`https://app.example/cb#access_token=${MASK}&state=s1`]);
  // Parameters that only look alike stay: no separator before the secret word, or another word.
  assert.deepEqual(red('https://h.example/search?q=monkey&keyboard=us&passage=3&monkey=1&bypass=0'), ['https://h.example/search?q=monkey&keyboard=us&passage=3&monkey=1&bypass=0']);
  assert.deepEqual(red('https://h.example/x?token='), ['https://h.example/x?token=']);
  // A presigned S3 URL keeps everything but the credential scope, signature and session token.
  const presigned = 'https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=IQo&X-Amz-Signature=abcdef';
  assert.deepEqual(red(presigned), [`https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${MASK}&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=${MASK}&X-Amz-Signature=${MASK}`]);
});

test('-p is masked for programs that take a password with it, and left alone for the rest', () => {
  const args = (program: string, ...a: string[]) => r.redact(a, program).args;
  // A port, a project, a package: not secrets.
  assert.deepEqual(args('/usr/bin/tsc', '-p', '.'), ['-p', '.']);
  assert.deepEqual(args('/usr/local/go/pkg/tool/linux_amd64/compile', '-p', 'main', '-o', 'x.a'), ['-p', 'main', '-o', 'x.a']);
  assert.deepEqual(args('ssh', '-p', '2222', 'host'), ['-p', '2222', 'host']);
  assert.deepEqual(args('/usr/bin/psql', '-h', 'db', '-p', '5432'), ['-h', 'db', '-p', '5432']);
  assert.deepEqual(args('redis-cli', '-p', '6379', '-a', 'hunter2', 'ping'), ['-p', '6379', '-a', MASK, 'ping']);
  // mysql takes the password glued on (in `mysql -p name`, name is the database).
  assert.deepEqual(args('/usr/bin/mysql', '-uroot', '-pS3cret', 'shop'), ['-uroot', `-p${MASK}`, 'shop']);
  assert.deepEqual(args('mysql', '-u', 'root', '-p', 'shop'), ['-u', 'root', '-p', 'shop']);
  assert.deepEqual(args('mysqldump', '--password=S3cret', 'shop'), [`--password=${MASK}`, 'shop']);
  assert.deepEqual(args('/usr/bin/mysqladmin', '-pS3cret', 'status'), [`-p${MASK}`, 'status']);
  assert.deepEqual(args('sshpass', '-p', 'S3cret', 'ssh', 'host'), ['-p', MASK, 'ssh', 'host']);
  assert.deepEqual(args('sshpass', '-pS3cret', 'ssh', 'host'), [`-p${MASK}`, 'ssh', 'host']);
  assert.deepEqual(args('mongosh', '-u', 'admin', '-p', 'S3cret'), ['-u', 'admin', '-p', MASK]);
  assert.deepEqual(args('curl', '-u', 'bob:S3cret', '--user=ann:pw', '-U', 'proxyuser', 'https://h'), ['-u', `bob:${MASK}`, `--user=ann:${MASK}`, '-U', 'proxyuser', 'https://h']);
  // A password program run through another (sudo, docker exec, kubectl exec) gets its rules.
  assert.deepEqual(args('/usr/bin/docker', 'exec', '-it', 'db', 'mysql', '-uroot', '-pS3cret'), ['exec', '-it', 'db', 'mysql', '-uroot', `-p${MASK}`]);
  assert.deepEqual(args('sudo', '-u', 'redis', '/usr/bin/redis-cli', '-a', 'S3cret'), ['-u', 'redis', '/usr/bin/redis-cli', '-a', MASK]);
  assert.equal(r.redact(['-p', '.'], 'tsc').changed, false);
  // The generic secret flags hold for every program.
  assert.deepEqual(args('tsc', '--token', 't'), ['--token', MASK]);
  // Without the defaults, no program rules either.
  assert.deepEqual(new Redactor({ defaults: false }).redact(['-pS3cret', '-a', 'x'], 'mysql').args, ['-pS3cret', '-a', 'x']);
});

test('without a program, -p is masked whatever it means (the safe side)', () => {
  assert.deepEqual(red('-p', '.'), ['-p', MASK]);
});

test('credential headers passed as arguments are masked', () => {
  assert.deepEqual(red('-H', 'Cookie: session=abc', '-H', 'X-Api-Key: k1', '-H', 'x-auth-token: t1', '-H', 'Accept: json'), ['-H', `Cookie: ${MASK}`, '-H', `X-Api-Key: ${MASK}`, '-H', `x-auth-token: ${MASK}`, '-H', 'Accept: json']);
});
