// The tvix NAR fixtures and the root nodes, NarHashes and sizes they must ingest to (test/fixtures/tvix/README.md).

export { TVIX_DIR as TESTDATA } from '../fixtures/tvix.js';

export interface GoldenNar {
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
  readonly rootB64url: string;
}

export const GOLDEN_NARS: readonly GoldenNar[] = [
  {
    file: 'emptydirectory.nar',
    sha256: 'a50a5ab6d992f5598edd92105059fae9acfc192981e08bd88534c2167e92526a',
    size: 96,
    rootB64url: 'CiISIK8TSbn1-aGmoEBN6jbcyUmbyyXJrcESt8yak8rkHzJi',
  },
  {
    file: 'onebyteregular.nar',
    sha256: '730850a811259dbf3a68dc2ee87a79aa6cae9f71375edf396f9d7a91fbe9134d',
    size: 120,
    rootB64url: 'EiQSIEj8ch-7wXLgkl-ievFnHeIlupJxNIApmLEKFWihiGUrGAE',
  },
  {
    file: 'onebyteexecutable.nar',
    sha256: 'fa0de8dccc3589bed965eee20dd776b232f90fee5f004a58e11898c8d371c7f4',
    size: 152,
    rootB64url: 'EiYSIEj8ch-7wXLgkl-ievFnHeIlupJxNIApmLEKFWihiGUrGAEgAQ',
  },
  {
    file: 'symlink.nar',
    sha256: '097d397e9b5826384eaa16c457715d1c1a51670313ead0f58566e0b232539cf1',
    size: 136,
    rootB64url: 'GhoSGC9uaXgvc3RvcmUvc29tZXdoZXJlZWxzZQ',
  },
  {
    file: 'helloworld.nar',
    sha256: '03e7f63be30b065d78bcf615f5473545fdb4eb69aa416f43495b4e05cdfb8040',
    size: 128,
    rootB64url: 'EiQSIFyngVrctITpoTbBHv5pwdUwF21Um10Y0DjrUoC0s0cMGAw',
  },
  {
    file: 'complicated.nar',
    sha256: 'ebd52279a8df024c9fd5718de4103bf5e760dc7f2cf49044ee7dea87ab16911a',
    size: 840,
    rootB64url: 'CiQSID-VGhWv1Yb7MSHvTRPVgugRzg5afyHASX_YdJDp4jVaGAQ',
  },
  {
    file: 'popdirectories.nar',
    sha256: '88c73fb9141b358561b28f5185ea7ecc7397d3a09942f81269118129d06fb59e',
    size: 600,
    rootB64url: 'CiQSIMS-Qv5aLLnTZuLwdtlsYLCmzfDDsCx7ZQv27FLHGokyGAM',
  },
  {
    file: 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar',
    sha256: 'c6e155b3456e30b7612263ec095070811caf8abfd59faa72ab82a592efdeb253',
    size: 464152,
    rootB64url: 'CiQSIBiaSg0PlkyVCvq7i4PH-KXjURw8ZXNoQRptCujv0xjbGCI',
  },
];
