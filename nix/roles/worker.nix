# Role worker (seed 003): runs the tenant's workload. mvm's guest agent (vsock or
# virtio-serial, from mvm's own drive) serves the host; secrets are at /run/secrets, one file
# per name, mode 0400. socat is there for workloads that bridge a vsock port to TCP.
{ lib, pkgs, ... }:
{
  mvm.guest.role = "worker";
  mvm.guest.packages = [ pkgs.socat ];
}
