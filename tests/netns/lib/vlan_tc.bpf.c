// A VLAN interface for the UE where the kernel has no 802.1Q driver (CONFIG_VLAN_8021Q
// unset): tc on the UE's veth tags what leaves with VLAN_ID and lets in only what is
// tagged VLAN_ID, untagged, as veth-ue.VLAN_ID would. Built by vlan_test.py:
// clang -O2 -target bpf -DVLAN_ID=100 -c vlan_tc.bpf.c
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("tc/egress")
int tag(struct __sk_buff* skb) {
    return bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VLAN_ID) == 0 ? TC_ACT_OK : TC_ACT_SHOT;
}

// The kernel has moved a received tag into the skb's metadata before tc sees it.
SEC("tc/ingress")
int untag(struct __sk_buff* skb) {
    if (!skb->vlan_present || (skb->vlan_tci & 0xfff) != VLAN_ID) return TC_ACT_SHOT;
    return bpf_skb_vlan_pop(skb) == 0 ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
