/** Ethernet MACs as (hi 16 bits, lo 32 bits) pairs for the hot path: the one implementation is @weft/netbase's (mac.ts). */
export { type MacPair, formatMac, isGroupMac, macFromBytes, parseMac } from '@weft/netbase';
