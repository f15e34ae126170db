/**
 * The bulk of the Internet checksum in WebAssembly SIMD. The checksum is the offload datapath's main
 * per-byte JS cost (every segment cut is summed, every segment coalesced is verified): profiled at
 * ~9 Gbit/s, this loop was ~11% of the sending VTEP thread's CPU and ~12% of the receiving one's.
 * Measured here (Node 20, AMD EPYC, in-cache data): ~58 GB/s over 64 KiB and ~42 GB/s over 1392 bytes
 * (the ~12 ns JS-to-wasm call weighs there), ~36 GB/s for a whole 1398-byte `sum16` at offset 74 (what
 * the segmenter sums per segment); the previous loop (16 bytes per step as two 64-bit lanes, one
 * dependent chain) did ~17, ~21 and ~18 GB/s, the plain-JS loop (inet-checksum.ts) ~13 and ~11 GB/s.
 * Worth a 349-byte module.
 *
 * WebAssembly can only read its own memory, so an arena that wants it lives *in* a WebAssembly.Memory
 * (`checksumMemory`): its buffer is an ordinary, fixed-size ArrayBuffer for everything else (typed
 * views, koffi addresses). Where WebAssembly or SIMD is missing, or the memory cannot be reserved,
 * `checksumMemory` returns undefined and the arena keeps a plain ArrayBuffer: the JS loop does it all.
 *
 * The function `s(p, n)` sums n bytes (a multiple of 16) from byte offset p as little-endian 16-bit
 * words, then folds to 16 bits (0..0xffff). Since 2^16 = 1 (mod 0xffff) that is congruent to the sum
 * of the same bytes as 32-bit words, so the caller treats the result exactly like the JS loop's sum of
 * native 32-bit words. `i32x4.extadd_pairwise_i16x8_u` adds a load's eight words in pairs into four
 * 32-bit lanes; four accumulators take 64 bytes per turn, four independent add chains instead of one. A step
 * adds at most 2 * 0xffff to a lane, so the 32-bit lanes are summed in chunks of at most 256 KiB
 * (16384 steps: all four accumulators together stay below 2^31 per lane) and widened into 64-bit lanes
 * between chunks: exact for any n the memory can hold (up to 4 GiB), not just the 64 KiB callers pass.
 * The module, as text (assembled into the WASM below, byte for byte; `;;` starts a comment):
 *
 *   (module
 *     (import "e" "m" (memory 1))
 *     (func (export "s") (param $p i32) (param $n i32) (result i32)
 *       (local $m i32) (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $acc v128) (local $x i64)
 *       (block $done (loop $chunk
 *         (br_if $done (i32.eqz (local.get $n)))
 *         ;; this chunk: m = min(n, 256 KiB) bytes
 *         (local.set $m (select (i32.const 0x40000) (local.get $n) (i32.gt_u (local.get $n) (i32.const 0x40000))))
 *         (local.set $n (i32.sub (local.get $n) (local.get $m)))
 *         ;; 64 bytes per turn into four independent accumulators
 *         (block $tail (loop $fast
 *           (br_if $tail (i32.lt_u (local.get $m) (i32.const 64)))
 *           (local.set $a (i32x4.add (local.get $a) (i32x4.extadd_pairwise_i16x8_u (v128.load (local.get $p)))))
 *           (local.set $b (i32x4.add (local.get $b) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=16 (local.get $p)))))
 *           (local.set $c (i32x4.add (local.get $c) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=32 (local.get $p)))))
 *           (local.set $d (i32x4.add (local.get $d) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=48 (local.get $p)))))
 *           (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *           (local.set $m (i32.sub (local.get $m) (i32.const 64)))
 *           (br $fast)))
 *         ;; the chunk's last 0-3 steps of 16 bytes
 *         (block $last (loop $slow
 *           (br_if $last (i32.eqz (local.get $m)))
 *           (local.set $a (i32x4.add (local.get $a) (i32x4.extadd_pairwise_i16x8_u (v128.load (local.get $p)))))
 *           (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *           (local.set $m (i32.sub (local.get $m) (i32.const 16)))
 *           (br $slow)))
 *         ;; at most 16384 * 0x1fffe < 2^31 per lane in all four: add them, widen into acc's 64-bit lanes, restart at 0
 *         (local.set $a (i32x4.add (i32x4.add (local.get $a) (local.get $b)) (i32x4.add (local.get $c) (local.get $d))))
 *         (local.set $acc (i64x2.add (i64x2.add (local.get $acc) (i64x2.extend_low_i32x4_u (local.get $a)))
 *                                    (i64x2.extend_high_i32x4_u (local.get $a))))
 *         (local.set $a (local.tee $b (local.tee $c (local.tee $d (i32x4.splat (i32.const 0))))))
 *         (br $chunk)))
 *       (local.set $x (i64.add (i64x2.extract_lane 0 (local.get $acc)) (i64x2.extract_lane 1 (local.get $acc))))
 *       ;; x < 2^47 (n / 2 words of at most 0xffff); four end-around folds leave it in 0..0xffff
 *       (local.set $x (i64.add (i64.and (local.get $x) (i64.const 0xffff)) (i64.shr_u (local.get $x) (i64.const 16))))
 *       (local.set $x (i64.add (i64.and (local.get $x) (i64.const 0xffff)) (i64.shr_u (local.get $x) (i64.const 16))))
 *       (local.set $x (i64.add (i64.and (local.get $x) (i64.const 0xffff)) (i64.shr_u (local.get $x) (i64.const 16))))
 *       (local.set $x (i64.add (i64.and (local.get $x) (i64.const 0xffff)) (i64.shr_u (local.get $x) (i64.const 16))))
 *       (i32.wrap_i64 (local.get $x))))
 */

const MODULE_BASE64 =
  'AGFzbQEAAAABBwFgAn9/AX8CCAEBZQFtAgABAwIBAAcFAQFzAAAKtAIBsQIDAX8FewF+AkADQCABRQ0BQYCAECABIAFBgIAQSxshAiABIAJrIQECQANAIAJBwABJDQEgAyAA/QAAAP1//a4BIQMgBCAA/QAAEP1//a4BIQQgBSAA/QAAIP1//a4BIQUgBiAA/QAAMP1//a4BIQYgAEHAAGohACACQcAAayECDAALCwJAA0AgAkUNASADIAD9AAAA/X/9rgEhAyAAQRBqIQAgAkEQayECDAALCyADIAT9rgEgBSAG/a4B/a4BIQMgByAD/ckB/c4BIAP9ygH9zgEhB0EA/REiBiIFIgQhAwwACwsgB/0dACAH/R0BfCEIIAhC//8DgyAIQhCIfCEIIAhC//8DgyAIQhCIfCEIIAhC//8DgyAIQhCIfCEIIAhC//8DgyAIQhCIfCEIIAinCw==';

const PAGE = 65536;

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WASM = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
let compiled: object | null | undefined;

function checksumModule(): object | null {
  if (compiled !== undefined) return compiled;
  try {
    const bytes = Uint8Array.from(atob(MODULE_BASE64), (c) => c.charCodeAt(0));
    compiled = WASM?.validate(bytes) ? new WASM.Module(bytes) : null;
  } catch {
    compiled = null;
  }
  return compiled;
}

/** Sum of `len` bytes (a multiple of 16) at `off`, congruent (mod 0xffff) to their native 32-bit words' sum, folded to 0..0xffff. */
export type WordSummer = (off: number, len: number) => number;

/** A fixed WebAssembly memory of at least `bytes` bytes and the SIMD summer over it; undefined if unavailable. */
export function checksumMemory(bytes: number): { buffer: ArrayBuffer; sumWords: WordSummer } | undefined {
  const mod = checksumModule();
  if (!WASM || !mod || new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) return undefined; // wasm is little-endian
  try {
    const pages = Math.max(1, Math.ceil(bytes / PAGE));
    const memory = new WASM.Memory({ initial: pages, maximum: pages });
    const instance = new WASM.Instance(mod, { e: { m: memory } });
    return { buffer: memory.buffer, sumWords: instance.exports.s as WordSummer };
  } catch {
    return undefined;
  }
}
