/** IPv4 blocks for the control plane: the one implementation is @weft/netbase's (ipv4-cidr.ts). */
export {
  type Ipv4Cidr,
  type ParsedCidr,
  blockSize,
  cidrsOverlap,
  containsAddress,
  containsCidr,
  firstUsable,
  formatIpv4Cidr,
  isAligned,
  lastAddress,
  parseIpv4Cidr,
  prefixMask,
  sameCidr,
  subnetsBetween,
  tryParseIpv4Cidr,
} from '@weft/netbase';
