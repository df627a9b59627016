// Numeric constants from the kernel's uapi headers (linux/netlink.h, rtnetlink.h, if_link.h, if_bridge.h,
// veth.h, if_addr.h, nsfs.h; sys/socket.h and netinet/in.h for the socket calls), printed by a C program compiled
// against them rather than counted by hand.
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0x80000;
export const IPPROTO_ICMP = 1;
export const MSG_DONTWAIT = 0x40;
export const NETLINK_ROUTE = 0;
export const SOL_SOCKET = 1;
export const SO_RCVTIMEO = 20;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;

export const CLONE_NEWNET = 0x40000000;
export const NS_GET_NSTYPE = 0xb703;

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
/**
 * The kernel applied the dump request's filter attributes (linux/netlink.h). Set by `rtnl_dump_ifinfo` for IFLA_MASTER
 * and IFLA_LINKINFO kind filters (read in Linux 6.18; the filters are absent from 4.4 and present in 4.8).
 */
export const NLM_F_DUMP_FILTERED = 0x20;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;
export const NLA_F_NESTED = 0x8000;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_GETNEIGH = 30;
/** linux/neighbour.h: the neighbour's address. */
export const NDA_DST = 1;
export const RTM_NEWNSID = 88;
/** Bridge VLAN database (linux/rtnetlink.h, Linux 5.8: net/bridge/br_vlan.c `br_vlan_rtm_dump`). */
export const RTM_NEWVLAN = 112;
export const RTM_GETVLAN = 114;
export const BRIDGE_VLANDB_ENTRY = 1;
export const BRIDGE_VLANDB_ENTRY_INFO = 1;
export const BRIDGE_VLANDB_ENTRY_RANGE = 2;
export const RTM_GETNSID = 90;

export const NETNSA_NSID = 1;
export const NETNSA_FD = 3;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_PROTINFO = 12;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_AF_SPEC = 26;
export const IFLA_NET_NS_FD = 28;
export const IFLA_EXT_MASK = 29;
export const IFLA_LINK_NETNSID = 37;
/** RTM_GETLINK in the namespace an nsid names (Linux 4.20; 4.15-4.19 named it IFLA_IF_NETNSID). */
export const IFLA_TARGET_NETNSID = 46;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_SLAVE_KIND = 4;
export const IFLA_INFO_SLAVE_DATA = 5;
export const VETH_INFO_PEER = 1;
export const IFLA_BR_VLAN_FILTERING = 7;
export const IFLA_BR_VLAN_DEFAULT_PVID = 39;
export const IFLA_BRPORT_STATE = 1;
export const IFLA_BRPORT_MODE = 4;
export const IFLA_BRPORT_ISOLATED = 33;
export const IFLA_BRIDGE_FLAGS = 0;
export const IFLA_BRIDGE_VLAN_INFO = 2;
export const BRIDGE_VLAN_INFO_PVID = 2;
export const BRIDGE_VLAN_INFO_UNTAGGED = 4;
export const BRIDGE_VLAN_INFO_RANGE_BEGIN = 8;
export const BRIDGE_VLAN_INFO_RANGE_END = 16;
export const RTEXT_FILTER_BRVLAN_COMPRESSED = 4;
/**
 * IFLA_EXT_MASK bit: leave out IFLA_STATS, IFLA_STATS64 and the inet6 statistics (linux/rtnetlink.h; added in 2015 by
 * d5566fd72ec1 "rtnetlink: RTEXT_FILTER_SKIP_STATS support to avoid dumping inet/inet6 stats"; read in 6.18's
 * `rtnl_fill_ifinfo`). A kernel without it ignores the bit and sends them.
 */
export const RTEXT_FILTER_SKIP_STATS = 8;

export const IFF_UP = 0x1;
export const IFF_PROMISC = 0x100;
export const IFF_LOWER_UP = 0x10000;

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_BROADCAST = 4;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x2;

export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_METRICS = 8;
export const RTA_TABLE = 15;
export const RTAX_MTU = 2;
export const RTAX_ADVMSS = 8;
/** The main routing table (linux/rtnetlink.h `RT_TABLE_MAIN`): where routes go unless a table is named. */
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
/** Scope of global addresses and gatewayed routes (linux/rtnetlink.h `RT_SCOPE_UNIVERSE`, `ip` prints "global"). */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RTN_UNICAST = 1;

/** IF_OPER_* (RFC 2863 operstate) by number. */
export const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
/** BR_STATE_* by number. */
export const BRPORT_STATES = ['disabled', 'listening', 'learning', 'forwarding', 'blocking'] as const;
