// A tc classifier: drop tiny frames, mark IPv4 ones by size class, and tell the qdisc which class to use.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int tc_classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (skb->len < 60 || (void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		skb->mark = skb->len > 512 ? 2 : 1;
		skb->tc_classid = 0x10000 | skb->mark;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
