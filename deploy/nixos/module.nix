# NixOS module for nar-bridge. Import it and set, for example:
#   services.nar-bridge = { enable = true; package = pkgs.callPackage ./package.nix { }; listen = "127.0.0.1:9000"; };
# `package` must provide bin/nar-bridge (the checkout with its node_modules).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.nar-bridge;
in
{
  options.services.nar-bridge = {
    enable = lib.mkEnableOption "nar-bridge, a Nix binary cache on a tvix-compatible content-addressed store";

    package = lib.mkOption {
      type = lib.types.package;
      description = "Package providing bin/nar-bridge.";
    };

    listen = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1:9000";
      description = "HOST:PORT to serve HTTP on; put a TLS reverse proxy in front for anything beyond localhost.";
    };

    priority = lib.mkOption {
      type = lib.types.ints.unsigned;
      default = 40;
      description = "Priority advertised in nix-cache-info.";
    };

    logLevel = lib.mkOption {
      type = lib.types.enum [ "fatal" "error" "warn" "info" "debug" "trace" "silent" ];
      default = "info";
    };

    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Further `nar-bridge serve` flags, e.g. signing or token files.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.nar-bridge = {
      description = "nar-bridge binary cache";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      path = [ pkgs.xz pkgs.zstd pkgs.bzip2 ];
      environment = {
        NAR_BRIDGE_LISTEN = cfg.listen;
        NAR_BRIDGE_DATA_DIR = "/var/lib/nar-bridge";
        NAR_BRIDGE_PRIORITY = toString cfg.priority;
        NAR_BRIDGE_LOG_LEVEL = cfg.logLevel;
      };
      serviceConfig = {
        Type = "exec";
        ExecStart = lib.escapeShellArgs ([ "${cfg.package}/bin/nar-bridge" "serve" ] ++ cfg.extraArgs);
        Restart = "on-failure";
        TimeoutStopSec = 60;
        DynamicUser = true;
        StateDirectory = "nar-bridge";
        StateDirectoryMode = "0750";
        UMask = "0027";
        LimitNOFILE = 65536;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateUsers = true;
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
      };
    };
  };
}
