# Profile minimal: nothing beyond the baseline (busybox). The smallest image a role runs on.
{ ... }:
{ }
