import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MASK, Redactor } from '../../agent/process/redact.js';
import { agentDefaults } from '../../agent/config.js';

const r = new Redactor(agentDefaults());
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
  const custom = new Redactor(agentDefaults({ redact_flags: ['--db-pass'], redact_patterns: ['session=([a-f0-9]+)'] }));
  assert.deepEqual(custom.redact(['--db-pass', 'x', 'session=deadbeef;path=/', '--password=y']).args, ['--db-pass', MASK, `session=${MASK};path=/`, `--password=${MASK}`]);
  const none = new Redactor(agentDefaults({ redact_defaults: false, redact_patterns: ['secret'] }));
  assert.deepEqual(none.redact(['--password=y', 'my-secret-value']).args, ['--password=y', `my-${MASK}-value`]);
  assert.throws(() => new Redactor(agentDefaults({ redact_patterns: ['(unclosed'] })), /redaction: invalid pattern/);
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
  assert.deepEqual(new Redactor(agentDefaults({ redact_defaults: false })).redact(['-pS3cret', '-a', 'x'], 'mysql').args, ['-pS3cret', '-a', 'x']);
});

test('without a program, -p is masked whatever it means (the safe side)', () => {
  assert.deepEqual(red('-p', '.'), ['-p', MASK]);
});

test('credential headers passed as arguments are masked', () => {
  assert.deepEqual(red('-H', 'Cookie: session=abc', '-H', 'X-Api-Key: k1', '-H', 'x-auth-token: t1', '-H', 'Accept: json'), ['-H', `Cookie: ${MASK}`, '-H', `X-Api-Key: ${MASK}`, '-H', `x-auth-token: ${MASK}`, '-H', 'Accept: json']);
});

// Issue 10 item 8: the cases below leaked before; each has its look-alikes that must stay.
const args = (program: string, ...a: string[]) => r.redact(a, program).args;

test('environment-style assignments whose name ends in a secret word are masked, the name kept', () => {
  assert.deepEqual(args('env', 'PGPASSWORD=hunter2', 'psql', '-h', 'db'), [`PGPASSWORD=${MASK}`, 'psql', '-h', 'db']);
  assert.deepEqual(args('env', 'MYSQL_PWD=pw', 'mysql', 'shop'), [`MYSQL_PWD=${MASK}`, 'mysql', 'shop']);
  assert.deepEqual(red('pgpassword=x', 'Vault_Token=t', 'DOCKER_SECRET=s', 'LDAPPASSWD=p', 'SIGNINGKEY=k', 'GCP_CREDENTIALS=c', 'AWS_SECRET_ACCESS_KEY=a'),
    [`pgpassword=${MASK}`, `Vault_Token=${MASK}`, `DOCKER_SECRET=${MASK}`, `LDAPPASSWD=${MASK}`, `SIGNINGKEY=${MASK}`, `GCP_CREDENTIALS=${MASK}`, `AWS_SECRET_ACCESS_KEY=${MASK}`]);
  // An assignment given as a flag's value: docker --env=, --build-arg=, kubectl --from-literal=.
  assert.deepEqual(args('docker', 'run', '--env=PGPASSWORD=x', '--build-arg=NPM_TOKEN=t', '-e', 'MYSQL_PWD=y', 'img'),
    ['run', `--env=PGPASSWORD=${MASK}`, `--build-arg=NPM_TOKEN=${MASK}`, '-e', `MYSQL_PWD=${MASK}`, 'img']);
  assert.deepEqual(args('kubectl', 'create', 'secret', 'generic', 'db', '--from-literal=password=abc'), ['create', 'secret', 'generic', 'db', `--from-literal=password=${MASK}`]);
  // Names that do not end in a secret word stay, and so do the working directories and empty values.
  const plain = ['PATH=/usr/bin', 'KEYMAP=us', 'KEYBOARD=pc105', 'PASSAGE=3', 'BYPASS=1', 'PWD=/srv', 'OLDPWD=/', 'TOKEN=', 'HOME=/root', 'LANG=C.UTF-8', '--label=tier=web'];
  assert.deepEqual(red(...plain), plain);
  assert.equal(r.redact(plain, 'env').changed, false);
});

test('AWS access key ids are masked anywhere, AWS secret keys after their names', () => {
  assert.deepEqual(red('AKIAIOSFODNN7EXAMPLE'), [`AKIA${MASK}`]);
  assert.deepEqual(red('--id=ASIAY34FZKBOKMUTVV7A', 's3://b/AKIAIOSFODNN7EXAMPLE.txt', 'keyAKIAIOSFODNN7EXAMPLE'), [`--id=ASIA${MASK}`, `s3://b/AKIA${MASK}.txt`, `keyAKIA${MASK}`]);
  assert.deepEqual(red('aws_access_key_id=AKIAIOSFODNN7EXAMPLE,aws_secret_access_key=wJalrXUtnFEMI/K7MDENG,region=eu'),
    [`aws_access_key_id=AKIA${MASK},aws_secret_access_key=${MASK},region=eu`]);
  assert.deepEqual(red('[default] aws_secret_access_key = wJalr/K7MDENG region = eu'), [`[default] aws_secret_access_key = ${MASK} region = eu`]);
  assert.deepEqual(red('{"aws_secret_access_key": "wJalr", "region": "eu"}'), [`{"aws_secret_access_key": "${MASK}", "region": "eu"}`]);
  assert.deepEqual(red('--secret-access-key', 'wJalr', '--aws-secret-access-key=wJalr'), ['--secret-access-key', MASK, `--aws-secret-access-key=${MASK}`]);
  assert.deepEqual(args('aws', 'configure', 'set', 'aws_secret_access_key', 'wJalr'), ['configure', 'set', 'aws_secret_access_key', MASK]);
  assert.deepEqual(args('aws', 'configure', 'set', 'profile.dev.aws_session_token', 'FwoG'), ['configure', 'set', 'profile.dev.aws_session_token', MASK]);
  // Too short, lower case or another prefix: not a key id.
  const plain = ['AKIAIOSFODNN7EXAMPL', 'akiaiosfodnn7example', 'AIDAIOSFODNN7EXAMPLE', 'aws_access_key_id', '--region', 'eu-west-1'];
  assert.deepEqual(args('aws', ...plain), plain);
});

test('JWTs are masked anywhere in an argument, eyJ kept; other base64 stays', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  assert.deepEqual(red(jwt), [`eyJ${MASK}`]);
  assert.deepEqual(red(`--data={"id_token":"${jwt}","n":1}`, `-t${jwt}`, `cookie=${jwt}; Path=/`), [`--data={"id_token":"eyJ${MASK}","n":1}`, `-teyJ${MASK}`, `cookie=eyJ${MASK}; Path=/`]);
  // Unsigned (alg none) and 5-part JWE forms.
  assert.deepEqual(red('eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.', 'eyJhbGciOiJSU0EtT0FFUCJ9.OKOawDo13gRp.48V1_ALb6US04U3b.5eym8TW_c8SuK.XFBoMYUZodetZdvTiFvSkQ'), [`eyJ${MASK}`, `eyJ${MASK}`]);
  // A base64 JSON object alone, plain base64, a dotted name: not JWTs.
  const plain = ['eyJhbGciOiJIUzI1NiJ9', 'aGVsbG8gd29ybGQ=', 'eyJ.a.b', 'dGhpcyBpcyBub3Q.aGVsbG8.d29ybGQ', 'com.example.eyJvalue'];
  assert.deepEqual(red(...plain), plain);
});

test('PEM private keys are masked between their BEGIN and END lines, also when cut before END', () => {
  const rsa = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----';
  assert.deepEqual(red(rsa), [`-----BEGIN RSA PRIVATE KEY-----${MASK}-----END RSA PRIVATE KEY-----`]);
  assert.deepEqual(red(`--tls-key-data=${rsa}\n`), [`--tls-key-data=-----BEGIN RSA PRIVATE KEY-----${MASK}-----END RSA PRIVATE KEY-----\n`]);
  assert.deepEqual(red('{"key":"-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n","cert":"x"}'), [`{"key":"-----BEGIN PRIVATE KEY-----${MASK}-----END PRIVATE KEY-----\\n","cert":"x"}`]);
  // Cut short by the argument limit: masked to the end.
  assert.deepEqual(red('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA'), [`-----BEGIN OPENSSH PRIVATE KEY-----${MASK}`]);
  assert.deepEqual(red('-----BEGIN ENCRYPTED PRIVATE KEY-----MIIF'), [`-----BEGIN ENCRYPTED PRIVATE KEY-----${MASK}`]);
  // Certificates and public keys are public.
  const plain = ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----', '-----BEGIN'];
  assert.deepEqual(red(...plain), plain);
});

test('a shell command line after -c is redacted word by word and stays readable', () => {
  assert.deepEqual(args('/bin/sh', '-c', 'mysql -pSECRET db'), ['-c', `mysql -p${MASK} db`]);
  assert.deepEqual(args('bash', '-c', `curl -H "Authorization: Bearer X" https://api.example.com`), ['-c', `curl -H "Authorization: ${MASK}" https://api.example.com`]);
  assert.deepEqual(args('sh', '-c', 'PGPASSWORD=x psql -h db -p 5432'), ['-c', `PGPASSWORD=${MASK} psql -h db -p 5432`]);
  assert.deepEqual(args('dash', '-c', 'redis-cli -a pw ping; ssh -p 22 host uptime'), ['-c', `redis-cli -a ${MASK} ping; ssh -p 22 host uptime`]);
  assert.deepEqual(args('zsh', '-c', `wget --header='Cookie: s=1' --password 'p w' http://x`), ['-c', `wget --header='Cookie: ${MASK}' --password '${MASK}' http://x`]);
  assert.deepEqual(args('ash', '-c', 'mysql -p"my secret" shop && echo ok'), ['-c', `mysql -p${MASK} shop && echo ok`]);
  // busybox sh, option clusters and options between -c and the line, through docker or kubectl exec.
  assert.deepEqual(args('busybox', 'sh', '-c', 'mysql -pQ'), ['sh', '-c', `mysql -p${MASK}`]);
  assert.deepEqual(args('bash', '-lc', 'mysql -pQ'), ['-lc', `mysql -p${MASK}`]);
  assert.deepEqual(args('bash', '-o', 'pipefail', '-c', '--', 'mysql -pQ', 'arg0', '--token', 't'), ['-o', 'pipefail', '-c', '--', `mysql -p${MASK}`, 'arg0', '--token', MASK]);
  assert.deepEqual(args('kubectl', 'exec', 'db-0', '--', 'sh', '-c', 'mysql -uroot -p"$PW"'), ['exec', 'db-0', '--', 'sh', '-c', `mysql -uroot -p${MASK}`]);
  assert.deepEqual(args('su', '-', 'postgres', '-c', 'psql postgres://app:pw@db/app'), ['-', 'postgres', '-c', `psql postgres://app:${MASK}@db/app`]);
  // Nested shells, escapes, and a key the shell would split into words.
  assert.deepEqual(args('sh', '-c', `bash -c 'mysql -pQ' | tee log`), ['-c', `bash -c 'mysql -p${MASK}' | tee log`]);
  assert.deepEqual(args('sh', '-c', 'curl -u bob:pw\\ 2 http://x'), ['-c', `curl -u bob:${MASK} http://x`]);
  assert.deepEqual(args('sh', '-c', 'echo -----BEGIN EC PRIVATE KEY----- MHcCAQ -----END EC PRIVATE KEY----- > k'), ['-c', `echo -----BEGIN EC PRIVATE KEY-----${MASK}-----END EC PRIVATE KEY----- > k`]);
  // Nothing secret: the line is left exactly as it was, quotes and all.
  for (const line of ['echo hello', `cd /srv && ./run.sh --config "/etc/a b.yaml" 2>&1 | logger -t 'app'`, 'ssh -p 22 host', 'tsc -p .', `echo 'unclosed`]) {
    assert.deepEqual(args('sh', '-c', line), ['-c', line], line);
  }
  assert.equal(r.redact(['-c', 'echo hello'], 'sh').changed, false);
  assert.equal(r.redact(['-c', 'mysql -pQ'], 'sh').changed, true);
});

test('credential headers are masked with the flag in the same argument or before it', () => {
  assert.deepEqual(red('--header=Authorization: Basic dXNlcjpwdw=='), [`--header=Authorization: ${MASK}`]);
  assert.deepEqual(red('--proxy-header=Proxy-Authorization: Basic eA==', '-HCookie: a=b'), [`--proxy-header=Proxy-Authorization: ${MASK}`, `-HCookie: ${MASK}`]);
  assert.deepEqual(args('curl', '-H', 'Authorization: Bearer abc', '--header', 'Cookie: sid=1', '--header', 'Private-Token: glpat'), ['-H', `Authorization: ${MASK}`, '--header', `Cookie: ${MASK}`, '--header', `Private-Token: ${MASK}`]);
  assert.deepEqual(args('wget', '--header=Cookie: sid=1', 'http://x'), [`--header=Cookie: ${MASK}`, 'http://x']);
  const plain = ['--header=Accept: application/json', '-H', 'Content-Type: text/plain', '--header', 'X-Request-Id: 42'];
  assert.deepEqual(args('curl', ...plain), plain);
});

test('registry logins mask -p; elsewhere docker -p is a port', () => {
  for (const tool of ['docker', 'podman', 'nerdctl', '/usr/bin/buildah', 'skopeo']) {
    assert.deepEqual(args(tool, 'login', '-u', 'me', '-p', 'S3cret', 'registry.example.com'), ['login', '-u', 'me', '-p', MASK, 'registry.example.com'], tool);
  }
  assert.deepEqual(args('docker', 'login', '--password', 'S3cret'), ['login', '--password', MASK]);
  assert.deepEqual(args('docker', 'login', '-pS3cret', '-p=S3cret'), ['login', `-p${MASK}`, `-p=${MASK}`]);
  assert.deepEqual(args('helm', 'registry', 'login', 'r.example.com', '-u', 'me', '-p', 'S3cret'), ['registry', 'login', 'r.example.com', '-u', 'me', '-p', MASK]);
  assert.deepEqual(args('sh', '-c', 'echo x | docker login -u me -p S3cret r.io'), ['-c', `echo x | docker login -u me -p ${MASK} r.io`]);
  // Ports, and a login that reads the password from stdin.
  assert.deepEqual(args('docker', 'run', '-p', '8080:80', 'nginx'), ['run', '-p', '8080:80', 'nginx']);
  assert.deepEqual(args('podman', 'run', '-p8080:80', 'nginx'), ['run', '-p8080:80', 'nginx']);
  assert.deepEqual(args('helm', 'install', 'web', 'chart', '-p', 'x'), ['install', 'web', 'chart', '-p', 'x']);
  assert.deepEqual(args('docker', 'login', '-u', 'me', '--password-stdin', 'r.io'), ['login', '-u', 'me', '--password-stdin', 'r.io']);
});

test('Java system properties whose last segment names a secret are masked', () => {
  assert.deepEqual(args('java', '-Dpassword=x', '-Djavax.net.ssl.keyStorePassword=ks', '-Dspring.datasource.password=p', '-Dapp.Secret=s', '-Dvault.token=t', '-Dapi.key=k', '-jar', 'app.jar'),
    [`-Dpassword=${MASK}`, `-Djavax.net.ssl.keyStorePassword=${MASK}`, `-Dspring.datasource.password=${MASK}`, `-Dapp.Secret=${MASK}`, `-Dvault.token=${MASK}`, `-Dapi.key=${MASK}`, '-jar', 'app.jar']);
  const plain = ['-Dfile.encoding=UTF-8', '-Dspring.profiles.active=prod', '-Dpassword.policy.enabled=true', '-Duser.timezone=UTC', '-Dkey'];
  assert.deepEqual(args('java', ...plain), plain);
});

test('long secret flags match whatever their case and - / _ spelling; look-alikes stay', () => {
  assert.deepEqual(red('--Password', 'a', '--PASSWORD=b', '--pass-word', 'c', '--pass_word=d', '--API_KEY', 'e', '--Client-Secret=f'),
    ['--Password', MASK, `--PASSWORD=${MASK}`, '--pass-word', MASK, `--pass_word=${MASK}`, '--API_KEY', MASK, `--Client-Secret=${MASK}`]);
  // Flags users add get the same treatment.
  assert.deepEqual(new Redactor(agentDefaults({ redact_flags: ['--db-pass'] })).redact(['--DB_PASS', 'x']).args, ['--DB_PASS', MASK]);
  // A file that holds the secret is not the secret; other words that contain key or pass are not secrets.
  const plain = ['--keyboard-layout', 'us', '--max-keys', '5', '--token-file', '/run/secrets/t', '--token-file=/run/t', '--password-file=/p', '--passphrase-fd', '3', '--monkey=1', '--no-password'];
  assert.deepEqual(args('tool', ...plain), plain);
  // Short flags stay exact: -P is mysql's port, not its password.
  assert.deepEqual(args('mysql', '-P', '3306', '-pX'), ['-P', '3306', `-p${MASK}`]);
});

test('long hostile arguments are scanned once, with the right result', () => {
  // Each input would make a backtracking pattern take quadratic (or worse) time; here they finish
  // like any other argument. No timing is asserted: a regression shows as a test that hangs.
  const n = 256 * 1024;
  const same: Record<string, string> = {
    jwtStarts: 'eyJ'.repeat(n / 3), jwtSegments: 'eyJaaaaa..'.repeat(n / 10), scheme: `${'a'.repeat(n)}://x`, param: `?${'a_'.repeat(n / 2)}x=1`,
    pem: '-----BEGIN '.repeat(n / 11), name: `${'A_'.repeat(n / 2)}x=1`, header: `${'-'.repeat(n)}header`, akia: 'AKIA1234.'.repeat(n / 9),
  };
  // (compared with ===, so that a failure does not print 256 KiB)
  for (const [name, s] of Object.entries(same)) assert.ok(r.redact([s], 'tool').args[0] === s, name);
  assert.ok(r.redact(['-c', '"'.repeat(n)], 'sh').args[1] === '"'.repeat(n), 'quotes');
  assert.ok(r.redact(['-c', 'mysql -pX; '.repeat(n / 11)], 'sh').args[1] === `mysql -p${MASK}; `.repeat(n / 11), 'commands');
  // sh -c "sh -c \"...\"" more than four deep is masked whole rather than followed.
  let line = 'echo hi';
  for (let k = 0; k < 6; k++) line = `sh -c ${JSON.stringify(line)}`;
  assert.match(r.redact(['-c', line], 'sh').args[1]!, /\*\*\*\*\*/);
});
