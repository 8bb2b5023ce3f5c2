# Profile python: a Python 3 interpreter for workloads written in it.
{ pkgs, ... }:
{
  mvm.guest.packages = [ pkgs.python3 ];
}
