// Vectors from real Nix 2.8 (`nix path-info --json` of paths made by nix-store --add[-fixed] and nix-instantiate).
import { describe, expect, it } from 'vitest';
import { contentAddressedPath, parseContentAddress, StorePath } from '../../src/nix/index.js';

const DEPTREE = '/nix/store/rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree';
const DEP = '/nix/store/x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt';

describe('contentAddressedPath', () => {
  it.each([
    ['/nix/store/z45ailnkm27lnvhimqkhy08f6sh5m17d-hello.txt', 'fixed:r:sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil', []],
    ['/nix/store/6pbkmzrjkwh1vkwabdksj8bvd6iyw5qn-flat.txt', 'fixed:sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic', []],
    ['/nix/store/bya3lcv5mn1zhnbp2pq1zka4lz5jjkz7-flat.txt', 'fixed:sha1:9m1skbnr5i43n3yypvda5s65vhfwdx5a', []],
    ['/nix/store/d3gi2b1dkx5dp76wlh3jqgkx44dbwqbm-rdir', 'fixed:r:sha1:32m7qspxj7ijzi43ncb9amfaqld015vw', []],
    ['/nix/store/x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt', 'text:sha256:05chqvw4g5ddzxkfaxfa8vjxr8i6asfni6cgxfk6vg41cqzf01jb', []],
    ['/nix/store/y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv', 'text:sha256:05l2qfydv18lpcchgjsn5ag95agn35mqp33zibxqn6iilg93p6np', [DEP, DEPTREE]],
  ])('computes %s from %s', (path, ca, refs) => {
    const expected = StorePath.parseAbsolute(path);
    const computed = contentAddressedPath(
      expected.name,
      parseContentAddress(ca),
      refs.map((r) => StorePath.parseAbsolute(r)),
      expected,
    );
    expect(computed?.basename).toBe(expected.basename);
  });

  it('gives another path when a reference is added or the name changes', () => {
    const ca = parseContentAddress('text:sha256:05chqvw4g5ddzxkfaxfa8vjxr8i6asfni6cgxfk6vg41cqzf01jb');
    const self = StorePath.parseAbsolute(DEP);
    expect(contentAddressedPath('dep.txt', ca, [StorePath.parseAbsolute(DEPTREE)], self)?.basename).not.toBe(self.basename);
    expect(contentAddressedPath('dep2.txt', ca, [], self)?.digest).not.toEqual(self.digest);
  });

  it('refuses shapes Nix cannot make: flat with references, text referring to itself', () => {
    const self = StorePath.parseAbsolute(DEP);
    const flat = parseContentAddress('fixed:sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic');
    expect(contentAddressedPath('x', flat, [StorePath.parseAbsolute(DEPTREE)], self)).toBeNull();
    const text = parseContentAddress('text:sha256:05chqvw4g5ddzxkfaxfa8vjxr8i6asfni6cgxfk6vg41cqzf01jb');
    expect(contentAddressedPath('dep.txt', text, [self], self)).toBeNull();
  });
});
