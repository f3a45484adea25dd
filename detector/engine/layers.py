"""What a decode step found next: the small vocabulary shared by decode_*.py.

A step returns (status, next_layer, offset[, ...]); the loop in decode.py
dispatches on next_layer, so encapsulations nest without recursion.
"""

NEXT_ETHER = 1     # an Ethernet header starts at offset (VXLAN, GRE TEB, ERSPAN)
NEXT_IPV4 = 2      # an IPv4 header starts at offset
NEXT_IPV6 = 3      # an IPv6 header starts at offset
NEXT_NONE = 4      # nothing decodable follows; the packet decoded so far is the flow

# Ethertypes (IEEE registry) used by more than one decoder.
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_QINQ_OLD = 0x9100
ETH_P_MPLS_UC = 0x8847
ETH_P_MPLS_MC = 0x8848
ETH_P_PPPOE_SES = 0x8864
ETH_P_FABRICPATH = 0x8903   # Cisco FabricPath: 16-byte outer header, then Ethernet
ETH_P_TEB = 0x6558          # transparent Ethernet bridging (GRE)
ETH_P_ERSPAN2 = 0x88BE      # ERSPAN type I/II (GRE protocol type)
ETH_P_ERSPAN3 = 0x22EB      # ERSPAN type III
ETH_P_PPP = 0x880B          # PPP inside PPTP enhanced GRE
ETH_MIN_TYPE = 0x0600       # below this the field is an 802.3 length (LLC/STP)

# PPP protocol numbers (RFC 1661 / IANA ppp-numbers).
PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057

# IP protocol numbers (IANA).
IPPROTO_HOPOPTS = 0
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_GRE = 47
IPPROTO_AH = 51
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
IPPROTO_SCTP = 132
IPPROTO_MOBILITY = 135
IPPROTO_UDPLITE = 136
IPPROTO_HIP = 139
IPPROTO_SHIM6 = 140
