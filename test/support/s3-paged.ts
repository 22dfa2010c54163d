import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3_CREDENTIALS } from './s3.js';

/**
 * s3rver in a child process that can page listings. s3rver's continuation tokens are DES
 * encrypted, which OpenSSL 3 (Node ≥ 17) has only in its legacy provider: in this process a
 * ListObjectsV2 past 1,000 keys is a 500 InternalError. The child runs with
 * --openssl-legacy-provider, so listings of any size page as S3's do.
 */
export async function startPagedS3(
  bucket = 'echo-test',
): Promise<{ endpoint: string; bucket: string; dir: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'echo-s3rver-paged-'));
  const script = `
    const S3rver = require('s3rver');
    new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(dir)} })
      .run().then(({ port }) => console.log('port ' + port));
  `;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();
  return {
    endpoint,
    bucket,
    dir,
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
