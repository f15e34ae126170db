import { describe, expect, it } from 'vitest';
import { loaderFromMaps, parseLoaderList, programRuntime } from '../src/shared-libraries.js';

const LIST_AS_PROGRAM = `\tlinux-vdso.so.1 (0x00007ffd7f1c4000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f2f6a8d2000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2f6a600000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2f6a41f000)
\t/lib64/ld-linux-x86-64.so.2 => /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 (0x00007f2f6a8ea000)
`;

describe('parseLoaderList', () => {
  it('keeps the names node asks for and takes the loader apart', () => {
    const { libraries, loader } = parseLoaderList(LIST_AS_PROGRAM);
    expect(libraries.map((l) => l.name)).toEqual(['libdl.so.2', 'libstdc++.so.6', 'libc.so.6']);
    expect(libraries[1]?.path).toBe('/lib/x86_64-linux-gnu/libstdc++.so.6');
    expect(loader).toEqual({ name: 'ld-linux-x86-64.so.2', path: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' });
  });

  it("reads ldd's form of the loader line too", () => {
    const { loader } = parseLoaderList('\t/lib/ld-linux-aarch64.so.1 (0x0000ffff9c5a0000)\n');
    expect(loader).toEqual({ name: 'ld-linux-aarch64.so.1', path: '/lib/ld-linux-aarch64.so.1' });
  });

  it('names the library the loader cannot find', () => {
    expect(() => parseLoaderList('\tlibstdc++.so.6 => not found\n')).toThrow(/libstdc\+\+\.so\.6.*cannot find/);
  });
});

describe('loaderFromMaps', () => {
  it('finds glibc loader among mapped files', () => {
    const maps = [
      '55d0c8a00000-55d0c8c00000 r--p 00000000 08:01 123 /usr/bin/node',
      '7f2f6a8ea000-7f2f6a8eb000 r--p 00000000 08:01 456 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      '7ffd7f1c4000-7ffd7f1c6000 r-xp 00000000 00:00 0 [vdso]',
    ].join('\n');
    expect(loaderFromMaps(maps)).toBe('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
    expect(loaderFromMaps('7f-8f r-xp 0 00:00 0 [vdso]')).toBeUndefined();
  });
});

describe('programRuntime', () => {
  it('lists what this node binary needs: its loader and C library', async () => {
    const runtime = await programRuntime(process.execPath);
    expect(runtime.executable).toBe(process.execPath);
    expect(runtime.loader.name).toMatch(/^ld-linux/);
    expect(runtime.libraries.map((l) => l.name)).toContain('libc.so.6');
  });
});
