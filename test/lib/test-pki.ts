/**
 * A throwaway PKI for a TLS etcd, made with openssl as an operator would: a CA, a server certificate
 * for the etcd address (IP SAN, serverAuth) and a client certificate (clientAuth) for weftd. Keys are
 * P-256; everything is valid for one day and lives in the caller's temp directory.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '@weft/netlab';

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export async function makeEtcdPki(dir: string, etcdIp: string): Promise<TestPki> {
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=weft-test-ca', '-days', '1']);
  const issue = async (name: string, cn: string, ext: string): Promise<void> => {
    writeFileSync(f(`${name}.ext`), ext);
    await run('openssl', ['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    ]);
  };
  await issue('server', 'etcd', `subjectAltName=IP:${etcdIp}\nextendedKeyUsage=serverAuth\n`);
  await issue('client', 'weft', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}
