//! pcap and pcapng reader (in progress)
