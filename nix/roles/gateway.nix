# Role gateway (seed 003): routes between the tenant's network and the outside. mvm's init
# does the routing part for every gateway, whatever its image: IPv4 forwarding on, and the
# routes of /etc/mvm-config/gateway.json (checked, then `ip route replace`; status in
# /run/mvm/gateway.status). This module adds the tools a gateway's own workload uses.
{ lib, pkgs, ... }:
{
  mvm.guest.role = "gateway";
  mvm.guest.packages = [
    pkgs.socat
    pkgs.iptables
    pkgs.iproute2
  ];
}
