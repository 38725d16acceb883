"""DRAM (Ba, Mnih, Kavukcuoglu, ICLR 2015) and the unified model on digit sequences."""
