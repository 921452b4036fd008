// The narinfos Nix 2.8 wrote for the test paths y and hello (shared/docs/nix-http-protocol.md §2.3).
export const Y_NARINFO = `StorePath: /nix/store/2r4c0iwl695hgsdxkablgafiz6pkkam6-y
URL: nar/1symq9x112xhijfxkd3gv4w1sc4i7sgynad2ggws6w7c0xz8av0z.nar.xz
Compression: xz
FileHash: sha256:1symq9x112xhijfxkd3gv4w1sc4i7sgynad2ggws6w7c0xz8av0z
FileSize: 276
NarHash: sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g
NarSize: 576
References: rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt
Deriver: y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv
Sig: test-1:3sPEu31v4Ej8vZ0nsM5YDXT715nTXs7KJRDnT0IBdWfW1BzaaY4/OkXwEAVhum60GdF35Q3pLXo1RVWQJStjCg==
`;

export const HELLO_NARINFO = `StorePath: /nix/store/z45ailnkm27lnvhimqkhy08f6sh5m17d-hello.txt
URL: nar/1v97wqbn00hgcr19m8sy6s5gxk0pxkhlscivyl8nfwz3giggj5my.nar.xz
Compression: xz
FileHash: sha256:1v97wqbn00hgcr19m8sy6s5gxk0pxkhlscivyl8nfwz3giggj5my
FileSize: 136
NarHash: sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil
NarSize: 128
References: 
Sig: test-1:9GTMq1XSvSHouP99YcflzbY3V+VPxWtfv3X5wpIjP1E/9oHJVYYTsX7uP9FFkobJLri+K3TwTb/dqyB/nVCoDg==
CA: fixed:r:sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil
`;
