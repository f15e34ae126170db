/** IPv4 addresses as unsigned 32-bit numbers in host order: the one implementation is @weft/netbase's (ipv4.ts). */
export { formatIpv4, parseIpv4 } from '@weft/netbase';
