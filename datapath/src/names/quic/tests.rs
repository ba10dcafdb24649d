//! Unit tests of the parent module.

use super::*;
use proptest::prelude::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The Destination Connection ID of the RFC examples.
const DCID: &str = "8394c8f03e515708";

/// RFC 9001 A.2 / RFC 9369 A.2: the client's CRYPTO frame, a
/// ClientHello for example.com.
const CLIENT_CRYPTO_FRAME: &str = "
    060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
    04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
    616d706c652e636f6dff01000100000a00080006001d00170018001000070005
    04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
    baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
    0d0010000e0403050306030203080408050806002d00020101001c0002400100
    3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
    75300901100f088394c8f03e51570806048000ffff";

/// RFC 9001 A.2: the protected client Initial (v1).
const V1_CLIENT_INITIAL: &str = "
    c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11
    d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399
    1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c
    8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212
    30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5
    457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208
    4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec
    4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3
    485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db
    059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c
    7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8
    9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556
    be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74
    68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a
    c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00
    f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632
    291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964
    25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd
    14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff
    ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198
    e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd
    c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73
    203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f
    cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e
    fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade
    a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047
    90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2
    162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4
    40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0
    6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e
    8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0
    be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400
    54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab
    760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9
    f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4
    056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064
    7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241
    e221af44860018ab0856972e194cd934";

/// RFC 9001 A.3: the server's Initial (v1).
const V1_SERVER_INITIAL: &str = "
    cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
    5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
    dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
    022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
    2158407dd074ee";

/// RFC 9369 A.2: the protected client Initial (v2).
const V2_CLIENT_INITIAL: &str = "
    d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485
    dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04
    9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d
    250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a
    12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500
    cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68
    18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33
    12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3
    d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd
    6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520
    bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045
    636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f
    ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12
    16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5
    4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4
    fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b
    8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7
    14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9
    9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91
    abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd
    80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db
    848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18
    d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15
    c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc
    7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61
    f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710
    10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b
    3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e
    06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce
    8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1
    34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1
    e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd
    5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3
    8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89
    d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53
    6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19
    9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b
    a18b2faa745b6fe189cf772a9f84cbfc";

/// RFC 9369 A.3: the server's Initial (v2).
const V2_SERVER_INITIAL: &str = "
    dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698
    baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17
    f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2
    c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8
    4bed8521e2e140";

/// CRYPTO frames as (offset, data).
type Frames = Vec<(u64, Vec<u8>)>;

/// Every CRYPTO frame handed out for a datagram, and the result.
fn crypto_frames(d: &[u8]) -> (Result<u32, QuicError>, Frames) {
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    let r = client_initial_crypto(d, &mut scratch, |o, b| out.push((o, b.to_vec())));
    (r, out)
}

fn keys_hex(k: &InitialKeys) -> [String; 3] {
    [hex(&k.key), hex(&k.iv), hex(&k.hp)]
}

#[test]
fn rfc9001_initial_keys() {
    // RFC 9001 A.1.
    let c = initial_keys(VERSION_1, &unhex(DCID), false).unwrap();
    assert_eq!(
        keys_hex(&c),
        [
            "1f369613dd76d5467730efcbe3b1a22d",
            "fa044b2f42a3fd3b46fb255c",
            "9f50449e04a0e810283a1e9933adedd2"
        ]
    );
    let s = initial_keys(VERSION_1, &unhex(DCID), true).unwrap();
    assert_eq!(
        keys_hex(&s),
        [
            "cf3a5331653c364c88f0f379b6067e37",
            "0ac1493ca1905853b0bba03e",
            "c206b8d9b9f0f37644430b490eeaa314"
        ]
    );
}

#[test]
fn rfc9369_initial_keys() {
    // RFC 9369 A.1.
    let c = initial_keys(VERSION_2, &unhex(DCID), false).unwrap();
    assert_eq!(
        keys_hex(&c),
        [
            "8b1a0bc121284290a29e0971b5cd045d",
            "91f73e2351d8fa91660e909f",
            "45b95e15235d6f45a6b19cbcb0294ba9"
        ]
    );
    let s = initial_keys(VERSION_2, &unhex(DCID), true).unwrap();
    assert_eq!(
        keys_hex(&s),
        [
            "82db637861d55e1d011f19ea71d5d2a7",
            "dd13c276499c0249d3310652",
            "edf6d05c83121201b436e16877593c3a"
        ]
    );
}

#[test]
fn draft29_initial_keys() {
    // draft-ietf-quic-tls-29 A.1 (same example connection ID).
    for v in 0xff00_001d..=0xff00_0020 {
        let c = initial_keys(v, &unhex(DCID), false).unwrap();
        assert_eq!(
            keys_hex(&c),
            [
                "175257a31eb09dea9366d8bb79ad80ba",
                "6b26114b9cba2b63a9e8dd4f",
                "9ddd12c994c0698b89374a9c077a3077"
            ]
        );
    }
}

/// Client key, IV and header protection key from the RFC examples'
/// connection ID with each salt, as derived by an independent
/// implementation (Python's `cryptography`).
const SALT_KEYS: [(&str, [&str; 3]); 3] = [
    (
        "draft-23",
        [
            "af7fd7efebd21878ff66811248983694",
            "8681359410a70bb9c92f0420",
            "a980b8b4fb7d9fbc13e814c23164253d",
        ],
    ),
    (
        "draft-22",
        [
            "07863d9c083786bc86766ce0d02bf93f",
            "fb33da41a8f297d482df670e",
            "48dbcf44e335508f7f23fb2c3790a37c",
        ],
    ),
    (
        "mvfst experimental",
        [
            "a8bfacaeacaf4203f6119da57f20583c",
            "3a9a4fe093bccc15845eb8c1",
            "3410eca0f7ec752c5202a58df93668b4",
        ],
    ),
];

#[test]
fn every_versions_salt() {
    let keys = |v| keys_hex(&initial_keys(v, &unhex(DCID), false).unwrap());
    let v1 = keys(VERSION_1);
    let d29 = keys(0xff00_001d);
    let [d23, d22, exp] = SALT_KEYS.map(|(_, k)| k.map(String::from));
    // Drafts 33 and 34 have v1's salt; so have mvfst's v1 aliases.
    for v in [
        0xff00_0021,
        0xff00_0022,
        mvfst::V1_ALIAS,
        mvfst::V1_ALIAS2,
        mvfst::PRIMING,
    ] {
        assert_eq!(keys(v), v1, "{v:#x}");
    }
    for v in 0xff00_001d..=0xff00_0020 {
        assert_eq!(keys(v), d29, "{v:#x}");
    }
    for v in (0xff00_0017..=0xff00_001c).chain([
        mvfst::MVFST,
        mvfst::EXPERIMENTAL,
        mvfst::ALIAS,
        mvfst::EXPERIMENTAL2,
        mvfst::EXPERIMENTAL3,
    ]) {
        assert_eq!(keys(v), d23, "{v:#x}");
    }
    for v in [0xff00_0016, mvfst::D22] {
        assert_eq!(keys(v), d22, "{v:#x}");
    }
    for v in [mvfst::EXPERIMENTAL4, mvfst::EXPERIMENTAL5] {
        assert_eq!(keys(v), exp, "{v:#x}");
    }
}

/// Every version whose Initial protection is known.
const KNOWN: [u32; 26] = [
    VERSION_1,
    VERSION_2,
    0xff00_0016,
    0xff00_0017,
    0xff00_0018,
    0xff00_0019,
    0xff00_001a,
    0xff00_001b,
    0xff00_001c,
    0xff00_001d,
    0xff00_001e,
    0xff00_001f,
    0xff00_0020,
    0xff00_0021,
    0xff00_0022,
    mvfst::D22,
    mvfst::MVFST,
    mvfst::V1_ALIAS,
    mvfst::V1_ALIAS2,
    mvfst::EXPERIMENTAL,
    mvfst::ALIAS,
    mvfst::EXPERIMENTAL2,
    mvfst::EXPERIMENTAL3,
    mvfst::EXPERIMENTAL4,
    mvfst::EXPERIMENTAL5,
    mvfst::PRIMING,
];

#[test]
fn known_versions() {
    for v in KNOWN {
        assert!(is_known_version(v), "{v:#x}");
        assert!(!is_greased_version(v), "{v:#x}");
    }
    let mut distinct = KNOWN.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), KNOWN.len());
    for v in [
        0,
        2,
        0xff00_0015,
        0xff00_0023,
        0x5130_3436,
        0xface_b00f,
        0x709a_50c4,
        0x0a0a_0a0a,
        0x1a2a_3a4a,
    ] {
        assert!(!is_known_version(v), "{v:#x}");
        assert!(initial_keys(v, &[1; 8], false).is_none());
    }
    for v in [0x0a0a_0a0a, 0x1a2a_3a4a, 0xfafa_fafa, 0x5a6a_7a8a] {
        assert!(is_greased_version(v), "{v:#x}");
    }
    for v in [0x0a0a_0a0b, 0x1a2a_3a4b, 0xa0a0_a0a0] {
        assert!(!is_greased_version(v), "{v:#x}");
    }
}

#[test]
fn rfc9001_header_protection_mask() {
    // RFC 9001 A.2: the sample and the mask it gives.
    let c = initial_keys(VERSION_1, &unhex(DCID), false).unwrap();
    let hp = HeaderProtectionKey::new(&AES_128, &c.hp).unwrap();
    let mask = hp
        .new_mask(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b"))
        .unwrap();
    assert_eq!(hex(&mask), "437b9aec36");
}

/// The CRYPTO data of the RFC examples' client Initial.
fn example_crypto() -> Vec<u8> {
    let f = unhex(CLIENT_CRYPTO_FRAME);
    assert_eq!(&f[..4], [0x06, 0x00, 0x40, 0xf1]);
    f[4..].to_vec()
}

#[test]
fn rfc9001_client_initial_decrypts() {
    let (r, frames) = crypto_frames(&unhex(V1_CLIENT_INITIAL));
    assert_eq!(r, Ok(VERSION_1));
    assert_eq!(frames, vec![(0, example_crypto())]);
    // The ClientHello names example.com.
    assert!(frames[0].1.windows(11).any(|w| w == b"example.com"));
}

#[test]
fn rfc9369_client_initial_decrypts() {
    let (r, frames) = crypto_frames(&unhex(V2_CLIENT_INITIAL));
    assert_eq!(r, Ok(VERSION_2));
    assert_eq!(frames, vec![(0, example_crypto())]);
}

#[test]
fn server_initials_do_not_decrypt_with_client_keys() {
    for p in [V1_SERVER_INITIAL, V2_SERVER_INITIAL] {
        let (r, frames) = crypto_frames(&unhex(p));
        assert_eq!(r, Err(QuicError::Decrypt));
        assert!(frames.is_empty());
    }
}

#[test]
fn corrupt_initial_fails_authentication() {
    let good = unhex(V1_CLIENT_INITIAL);
    for at in [3, 7, 25, 100, good.len() - 1] {
        let mut p = good.clone();
        p[at] ^= 0x01;
        let (r, frames) = crypto_frames(&p);
        assert!(r.is_err(), "byte {at}");
        assert!(frames.is_empty());
    }
}

#[test]
fn not_initial() {
    let mut p = unhex(V1_CLIENT_INITIAL);
    // An unknown version.
    p[1..5].copy_from_slice(&[0x0a, 0x1a, 0x2a, 0x3a]);
    assert_eq!(crypto_frames(&p).0, Err(QuicError::NotInitial));
    // Version Negotiation.
    p[1..5].copy_from_slice(&[0; 4]);
    assert_eq!(crypto_frames(&p).0, Err(QuicError::NotInitial));
    // A short header packet, and nothing.
    assert_eq!(crypto_frames(&[0x40; 40]).0, Err(QuicError::NotInitial));
    assert_eq!(crypto_frames(&[]).0, Err(QuicError::NotInitial));
    // A v1 Initial relabelled as v2: type 0b00 is v2's Retry.
    let mut p = unhex(V1_CLIENT_INITIAL);
    p[1..5].copy_from_slice(&VERSION_2.to_be_bytes());
    assert_eq!(crypto_frames(&p).0, Err(QuicError::NotInitial));
}

#[test]
fn longer_than_scratch_is_malformed() {
    let keys = initial_keys(VERSION_1, &[7; 8], false).unwrap();
    let frames = [0x06, 0x00, 0x02, 0xaa, 0xbb];
    let p = seal_initial(VERSION_1, &keys, &[7; 8], &[], 0, 1, &frames, 2100);
    assert!(p.len() > 2048);
    assert_eq!(crypto_frames(&p).0, Err(QuicError::Malformed));
    let p = seal_initial(VERSION_1, &keys, &[7; 8], &[], 0, 1, &frames, 2048);
    assert_eq!(crypto_frames(&p).1, vec![(0, vec![0xaa, 0xbb])]);
}

#[test]
fn every_truncation_is_an_error_and_never_panics() {
    for p in [V1_CLIENT_INITIAL, V2_CLIENT_INITIAL, V1_SERVER_INITIAL] {
        let p = unhex(p);
        let mut scratch = Scratch::default();
        for n in 0..p.len() {
            let mut called = false;
            let r = client_initial_crypto(&p[..n], &mut scratch, |_, _| called = true);
            assert!(r.is_err(), "{n} bytes");
            assert!(!called);
        }
    }
}

/// Seals an Initial packet of `version` (the client's keys come from
/// `dcid`) with `frames` padded to `min_len` bytes: the packet a client
/// sends, built here independently of the reader.
#[allow(clippy::too_many_arguments)]
fn seal_initial(
    version: u32,
    keys: &InitialKeys,
    dcid: &[u8],
    token: &[u8],
    pn: u64,
    pn_len: usize,
    frames: &[u8],
    min_len: usize,
) -> Vec<u8> {
    seal_with_form(
        0xc0, version, keys, dcid, token, pn, pn_len, frames, min_len,
    )
}

/// [`seal_initial`] with the header form and fixed bits `form` (0xc0, or
/// 0x80 for a client that greases the fixed bit, RFC 9287).
#[allow(clippy::too_many_arguments)]
fn seal_with_form(
    form: u8,
    version: u32,
    keys: &InitialKeys,
    dcid: &[u8],
    token: &[u8],
    pn: u64,
    pn_len: usize,
    frames: &[u8],
    min_len: usize,
) -> Vec<u8> {
    // A greased or unknown version is written with v1's packet types.
    let fam = candidates(version)[0].unwrap();
    let mut h = vec![form | (fam.initial_type << 4) | (pn_len as u8 - 1)];
    h.extend_from_slice(&version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.push(3);
    h.extend_from_slice(&[0xc1, 0xc2, 0xc3]);
    assert!(token.len() < 64);
    h.push(token.len() as u8);
    h.extend_from_slice(token);
    let fixed = h.len() + 2 + pn_len + TAG_LEN;
    let payload_len = frames
        .len()
        .max(min_len.saturating_sub(fixed))
        .max(SAMPLE_OFFSET + SAMPLE_LEN - pn_len - TAG_LEN);
    let length = pn_len + payload_len + TAG_LEN;
    h.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    let pn_at = h.len();
    h.extend_from_slice(&pn.to_be_bytes()[8 - pn_len..]);
    let mut body = frames.to_vec();
    body.resize(payload_len, 0);
    let mut nonce = keys.iv;
    for (n, b) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
        *n ^= b;
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &keys.key).unwrap());
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&h[..]),
        &mut body,
    )
    .unwrap();
    let mut p = h;
    p.extend_from_slice(&body);
    let hp = HeaderProtectionKey::new(&AES_128, &keys.hp).unwrap();
    let mask = hp.new_mask(&p[pn_at + 4..pn_at + 20]).unwrap();
    p[0] ^= mask[0] & 0x0f;
    for i in 0..pn_len {
        p[pn_at + i] ^= mask[1 + i];
    }
    p
}

/// A long header packet of type bits `ty` with an opaque body.
fn long_packet(version: u32, ty: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![0xc0 | (ty << 4)];
    p.extend_from_slice(&version.to_be_bytes());
    p.extend_from_slice(&[4, 1, 2, 3, 4, 0]);
    p.extend_from_slice(&(0x4000 | body.len() as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

#[test]
fn every_known_version_round_trips() {
    let dcid = [0x5a; 12];
    for version in KNOWN {
        let keys = initial_keys(version, &dcid, false).unwrap();
        let frames = [0x06, 0x00, 0x03, 1, 2, 3];
        let p = seal_initial(version, &keys, &dcid, &[], 1, 2, &frames, 1200);
        assert_eq!(p.len(), 1200);
        let (r, got) = crypto_frames(&p);
        assert_eq!(r, Ok(version), "{version:#x}");
        assert_eq!(got, vec![(0, vec![1, 2, 3])]);
    }
    // Drafts 22, 23-28, 29-32 and 33-34 have different salts.
    for (a, b) in [
        (0xff00_0016, 0xff00_0017),
        (0xff00_001c, 0xff00_001d),
        (0xff00_0020, 0xff00_0021),
    ] {
        assert_ne!(initial_keys(a, &dcid, false), initial_keys(b, &dcid, false));
    }
}

/// Client Initials built by an independent implementation (Python's
/// `cryptography`), each with a ClientHello for its name; tshark 4.0 reads
/// the same names from them.
const MVFST_EXPERIMENTAL_INITIAL: &str = "
    cafaceb00e0800010203040506070411223344004066318e361329644aa43a32
    352b2178d8195b7c7527c1fcd1939110bf6ddcb062b40d6b0c160dd7da5399a9
    e9a7f1c619766ea91dc26e84a036fac8e3ed9047b82e4061d6b21ad8e2a6e673
    48c1df8a7a0bb4d25588ae9321d76ba7a994650258afef933173bbe4";
/// A greased version (0x1a2a3a4a) protected with draft-29's keys.
const GREASED_DRAFT29_INITIAL: &str = "
    c11a2a3a4a0810111213141516170411223344004063a59eceef986488a76005
    5ff98dc072e21e56b109f77368321b1f1c8e0a0d8d4654ae226b268ce212b673
    1adba31aef967919c7c7c3f528d2c18bd2a6395787d7a82fb74ed8a1ceef5922
    696bf18488cd52225266963b41d875762a7a8c52616a2952a7";

/// The server name in the ClientHello carried by `d`'s CRYPTO frames.
fn sni_of(d: &[u8]) -> (Result<u32, QuicError>, Option<String>) {
    let (r, frames) = crypto_frames(d);
    let mut reasm = CryptoReasm::new();
    for (o, b) in &frames {
        reasm.add(*o, b);
    }
    let sni = crate::names::tls::client_hello_from_handshake(reasm.contiguous())
        .ok()
        .and_then(|ch| ch.sni)
        .map(|s| String::from_utf8_lossy(s).into_owned());
    (r, sni)
}

#[test]
fn independent_mvfst_and_greased_initials() {
    assert_eq!(
        sni_of(&unhex(MVFST_EXPERIMENTAL_INITIAL)),
        (Ok(mvfst::EXPERIMENTAL), Some("graph.facebook.com".into()))
    );
    assert_eq!(
        sni_of(&unhex(GREASED_DRAFT29_INITIAL)),
        (Ok(0x1a2a_3a4a), Some("greased.example".into()))
    );
    // Relabelled as another version, the version's bytes (in the AEAD's
    // associated data) no longer match: nothing.
    let mut p = unhex(MVFST_EXPERIMENTAL_INITIAL);
    p[1..5].copy_from_slice(&mvfst::MVFST.to_be_bytes());
    assert_eq!(sni_of(&p), (Err(QuicError::Decrypt), None));
    let mut p = unhex(GREASED_DRAFT29_INITIAL);
    p[1..5].copy_from_slice(&0x2a3a_4a5au32.to_be_bytes());
    assert_eq!(sni_of(&p), (Err(QuicError::NotInitial), None));
}

#[test]
fn greased_versions_try_v1_then_draft29_keys() {
    let dcid = [0x6b; 8];
    let frames = [0x06, 0x00, 0x03, 4, 5, 6];
    for version in [0x0a0a_0a0a, 0x1a2a_3a4a, 0xfafa_fafa] {
        for keyed_as in [VERSION_1, 0xff00_001d] {
            let keys = initial_keys(keyed_as, &dcid, false).unwrap();
            let p = seal_initial(version, &keys, &dcid, &[], 0, 2, &frames, 1200);
            let (r, got) = crypto_frames(&p);
            assert_eq!(r, Ok(version), "{version:#x} with {keyed_as:#x} keys");
            assert_eq!(got, vec![(0, vec![4, 5, 6])]);
        }
        // Any other keys: no Initial, no frames.
        for keyed_as in [VERSION_2, 0xff00_001c, 0xff00_0016] {
            let keys = initial_keys(keyed_as, &dcid, false).unwrap();
            let p = seal_initial(version, &keys, &dcid, &[], 0, 2, &frames, 1200);
            assert_eq!(crypto_frames(&p), (Err(QuicError::NotInitial), vec![]));
        }
    }
}

#[test]
fn unknown_versions_try_v1_keys() {
    let dcid = [0x6c; 8];
    let frames = [0x06, 0x00, 0x01, 9];
    let v1 = initial_keys(VERSION_1, &dcid, false).unwrap();
    let d29 = initial_keys(0xff00_001d, &dcid, false).unwrap();
    for version in [0x1234_5678, 0xface_b00f, 0xff00_0023, 0x709a_50c4] {
        let p = seal_initial(version, &v1, &dcid, &[], 3, 1, &frames, 0);
        assert_eq!(crypto_frames(&p), (Ok(version), vec![(0, vec![9])]));
        let p = seal_initial(version, &d29, &dcid, &[], 3, 1, &frames, 0);
        assert_eq!(crypto_frames(&p), (Err(QuicError::NotInitial), vec![]));
    }
    // Without the fixed bit, a v1 Initial is read (RFC 9287 lets clients
    // grease it), one of a guessed version not (RTP's first byte, for one,
    // never has it).
    let p = seal_with_form(0x80, VERSION_1, &v1, &dcid, &[], 3, 1, &frames, 0);
    assert_eq!(crypto_frames(&p), (Ok(VERSION_1), vec![(0, vec![9])]));
    let p = seal_with_form(0x80, 0x1234_5678, &v1, &dcid, &[], 3, 1, &frames, 0);
    assert_eq!(crypto_frames(&p), (Err(QuicError::NotInitial), vec![]));
    // Version Negotiation is never tried.
    let p = seal_initial(0x1234_5678, &v1, &dcid, &[], 3, 1, &frames, 0);
    let mut vn = p.clone();
    vn[1..5].copy_from_slice(&[0; 4]);
    assert_eq!(crypto_frames(&vn).0, Err(QuicError::NotInitial));
    // A packet of a guessed version that is not an Initial, or does not fit
    // its Length, is no Initial (not malformed), and ends the walk.
    let mut hs = long_packet(0x1234_5678, 2, &[0xee; 40]);
    assert_eq!(crypto_frames(&hs).0, Err(QuicError::NotInitial));
    hs.extend_from_slice(&p);
    assert_eq!(crypto_frames(&hs), (Err(QuicError::NotInitial), vec![]));
    assert_eq!(
        crypto_frames(&p[..p.len() - 1]).0,
        Err(QuicError::NotInitial)
    );
    // Once one opens, its Length is trusted: a v1 Initial coalesced after
    // it is read too.
    let next = seal_initial(VERSION_1, &v1, &dcid, &[], 4, 1, &[0x06, 1, 1, 10], 0);
    let mut d = p.clone();
    d.extend_from_slice(&next);
    assert_eq!(
        crypto_frames(&d),
        (Ok(0x1234_5678), vec![(0, vec![9]), (1, vec![10])])
    );
    // Written to the server's connection ID with the keys of the flow's
    // first one: opened only with that one.
    let later = seal_initial(0x1234_5678, &v1, &[0x77; 4], &[], 5, 1, &frames, 0);
    assert_eq!(initial_dcid(&later), Some(&[0x77; 4][..]));
    assert_eq!(crypto_frames(&later).0, Err(QuicError::NotInitial));
    let mut scratch = Scratch::default();
    let r = client_initial_crypto_with(&later, &dcid, &mut scratch, |_, _| {});
    assert_eq!(r, Ok(0x1234_5678));
    let r = client_initial_crypto_with(&later, &[0x78; 8], &mut scratch, |_, _| {});
    assert_eq!(r, Err(QuicError::NotInitial));
}

#[test]
fn frames_of_an_initial() {
    let dcid = [9; 8];
    let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
    let mut frames = Vec::new();
    frames.extend_from_slice(&[0x01]); // PING
    frames.extend_from_slice(&[0x00, 0x00]); // PADDING
                                             // ACK: largest 10, delay 2, 2 more ranges, first range 1, then
                                             // (gap, len) pairs with a 2-byte varint.
    frames.extend_from_slice(&[0x02, 10, 2, 2, 1, 0, 1, 0x40, 1, 0]);
    // CRYPTO at offset 300 (2-byte varint), 2 bytes.
    frames.extend_from_slice(&[0x06, 0x41, 0x2c, 2, 0xde, 0xad]);
    // ACK_ECN: largest 1, delay 0, no ranges, first 1, ECN counts.
    frames.extend_from_slice(&[0x03, 1, 0, 0, 1, 5, 6, 7]);
    // CONNECTION_CLOSE with a reason, then CRYPTO at 0.
    frames.extend_from_slice(&[0x1c, 0x0a, 0x06, 3, b'b', b'y', b'e']);
    frames.extend_from_slice(&[0x06, 0, 1, 0x42]);
    // NEW_TOKEN is not allowed in an Initial: the walk stops.
    frames.extend_from_slice(&[0x07, 1, 0]);
    frames.extend_from_slice(&[0x06, 0, 1, 0x43]);
    let p = seal_initial(VERSION_1, &keys, &dcid, b"tok", 0x1234, 4, &frames, 0);
    let (r, got) = crypto_frames(&p);
    assert_eq!(r, Ok(VERSION_1));
    assert_eq!(got, vec![(300, vec![0xde, 0xad]), (0, vec![0x42])]);
}

#[test]
fn truncated_frame_stops_the_walk() {
    let dcid = [3; 8];
    let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
    // A CRYPTO frame claiming more bytes than the payload has (the
    // padding added to reach the sample is shorter).
    let frames = [0x06, 0x00, 0x05, 0xaa];
    let p = seal_initial(VERSION_1, &keys, &dcid, &[], 0, 4, &frames, 0);
    let (r, got) = crypto_frames(&p);
    assert_eq!(r, Ok(VERSION_1));
    assert!(got.is_empty());
}

#[test]
fn coalesced_packets() {
    let dcid = [0x11; 8];
    let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
    let a = seal_initial(VERSION_1, &keys, &dcid, &[], 0, 1, &[0x06, 0, 2, 1, 2], 0);
    let b = seal_initial(VERSION_1, &keys, &dcid, &[], 1, 1, &[0x06, 2, 1, 3], 0);
    // Initial, Handshake (skipped), Initial, then a short header
    // packet that ends the datagram.
    let mut d = a.clone();
    d.extend_from_slice(&long_packet(VERSION_1, 2, &[0xee; 40]));
    d.extend_from_slice(&b);
    d.extend_from_slice(&[0x40; 30]);
    let (r, got) = crypto_frames(&d);
    assert_eq!(r, Ok(VERSION_1));
    assert_eq!(got, vec![(0, vec![1, 2]), (2, vec![3])]);

    // A Retry ends the walk; packets after it are not read.
    let mut d = long_packet(VERSION_1, 3, &[0; 30]);
    d.extend_from_slice(&a);
    assert_eq!(crypto_frames(&d).0, Err(QuicError::NotInitial));

    // A server Initial (other keys) before the client's: still Ok.
    let server = initial_keys(VERSION_1, &dcid, true).unwrap();
    let mut d = seal_initial(VERSION_1, &server, &dcid, &[], 0, 1, &[0x01], 0);
    d.extend_from_slice(&b);
    let (r, got) = crypto_frames(&d);
    assert_eq!(r, Ok(VERSION_1));
    assert_eq!(got, vec![(2, vec![3])]);

    // A Length beyond the datagram.
    let mut d = a.clone();
    d.truncate(a.len() - 1);
    assert_eq!(crypto_frames(&d).0, Err(QuicError::Malformed));
}

#[test]
fn later_initials_keep_the_first_keys() {
    // After the server's Initial the client writes to the server's
    // connection ID but keeps the keys of its first one.
    let first = [0x31; 8];
    let server_cid = [0x77; 5];
    let keys = initial_keys(VERSION_1, &first, false).unwrap();
    let p0 = seal_initial(VERSION_1, &keys, &first, &[], 0, 1, &[0x06, 0, 1, 7], 0);
    let p2 = seal_initial(
        VERSION_1,
        &keys,
        &server_cid,
        &[],
        2,
        1,
        &[0x06, 1, 1, 8],
        0,
    );
    assert_eq!(initial_dcid(&p0), Some(&first[..]));
    assert_eq!(initial_dcid(&p2), Some(&server_cid[..]));
    assert_eq!(crypto_frames(&p2).0, Err(QuicError::Decrypt));
    let mut scratch = Scratch::default();
    let mut got = Vec::new();
    let r = client_initial_crypto_with(&p2, &first, &mut scratch, |o, b| got.push((o, b.to_vec())));
    assert_eq!(r, Ok(VERSION_1));
    assert_eq!(got, vec![(1, vec![8])]);
    // A packet's own connection ID still comes first (after a Retry).
    let r = client_initial_crypto_with(&p0, &server_cid, &mut scratch, |_, _| {});
    assert_eq!(r, Ok(VERSION_1));
    // Not the flow's keys at all.
    let r = client_initial_crypto_with(&p2, &[0x32; 8], &mut scratch, |_, _| {});
    assert_eq!(r, Err(QuicError::Decrypt));
}

#[test]
fn initial_dcid_of_datagrams() {
    assert_eq!(
        initial_dcid(&unhex(V2_CLIENT_INITIAL)),
        Some(&unhex(DCID)[..])
    );
    assert_eq!(initial_dcid(&unhex(V1_SERVER_INITIAL)), Some(&[][..]));
    assert_eq!(initial_dcid(&[0x40; 30]), None);
    assert_eq!(initial_dcid(&[0xc0, 0, 0, 0, 0, 4, 1, 2, 3, 4]), None);
    assert_eq!(initial_dcid(&[0xc0, 0, 0, 0, 1, 21]), None);
    assert_eq!(initial_dcid(&[0xc0, 0, 0, 0, 1, 4, 1, 2, 3]), None);
    assert_eq!(initial_dcid(&[]), None);
}

#[test]
fn v2_types() {
    let dcid = [0x22; 8];
    let keys = initial_keys(VERSION_2, &dcid, false).unwrap();
    let init = seal_initial(VERSION_2, &keys, &dcid, &[], 5, 2, &[0x06, 0, 1, 9], 0);
    assert_eq!(init[0] & 0x30, 0x10);
    // v2's Handshake (0b11) is skipped by its Length; its Retry (0b00)
    // ends the walk.
    let mut d = long_packet(VERSION_2, 3, &[0xee; 25]);
    d.extend_from_slice(&init);
    assert_eq!(crypto_frames(&d).1, vec![(0, vec![9])]);
    let mut d = long_packet(VERSION_2, 0, &[0xee; 25]);
    d.extend_from_slice(&init);
    assert_eq!(crypto_frames(&d).0, Err(QuicError::NotInitial));
}

#[test]
fn reasm_in_order_and_out_of_order() {
    let msg: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut r = CryptoReasm::new();
    r.add(0, &msg[..100]);
    assert_eq!(r.contiguous(), &msg[..100]);
    r.add(200, &msg[200..1000]);
    assert_eq!(r.contiguous().len(), 100);
    r.add(1000, &msg[1000..]);
    assert_eq!(r.contiguous().len(), 100);
    // Overlapping, filling the gap.
    r.add(50, &msg[50..250]);
    assert_eq!(r.contiguous(), &msg[..]);
    assert!(!r.is_full());
    // Retransmission changes nothing.
    r.add(0, &msg[..10]);
    assert_eq!(r.contiguous(), &msg[..]);

    r.reset();
    assert!(r.contiguous().is_empty());
    // Byte by byte, backwards, across word boundaries.
    for i in (0..msg.len()).rev() {
        r.add(i as u64, &msg[i..i + 1]);
        assert_eq!(r.contiguous().len(), if i == 0 { msg.len() } else { 0 });
    }
    assert_eq!(r.contiguous(), &msg[..]);
}

#[test]
fn reasm_capacity() {
    let mut r = CryptoReasm::new();
    let big = vec![0x5a; 5000];
    r.add(0, &big);
    assert_eq!(r.contiguous().len(), CryptoReasm::CAPACITY);
    assert!(r.is_full());
    r.reset();
    r.add(u64::MAX, &big);
    r.add(CryptoReasm::CAPACITY as u64, &big);
    r.add(CryptoReasm::CAPACITY as u64 - 1, &[1, 2, 3]);
    assert!(r.contiguous().is_empty());
    r.add(0, &big[..CryptoReasm::CAPACITY - 1]);
    assert!(r.is_full());
    assert_eq!(r.contiguous()[CryptoReasm::CAPACITY - 1], 1);
    r.add(0, &[]);
    r.reset();
    r.add(0, &[]);
    assert!(r.contiguous().is_empty());
}

#[test]
fn reasm_of_split_initials() {
    // A ClientHello split over two Initial packets, second one first.
    let dcid = [0x44; 8];
    let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
    let ch = example_crypto();
    let (a, b) = ch.split_at(100);
    let mut fa = vec![0x06, 0x00, 0x40, a.len() as u8];
    fa.extend_from_slice(a);
    let mut fb = vec![0x06, 0x40, 100, 0x40, b.len() as u8];
    fb.extend_from_slice(b);
    let pa = seal_initial(VERSION_1, &keys, &dcid, &[], 0, 1, &fa, 1200);
    let pb = seal_initial(VERSION_1, &keys, &dcid, &[], 1, 1, &fb, 1200);
    let mut scratch = Scratch::default();
    let mut r = CryptoReasm::new();
    assert_eq!(client_initial_into(&pb, &mut scratch, &mut r), Ok(1));
    assert!(r.contiguous().is_empty());
    assert_eq!(client_initial_into(&pa, &mut scratch, &mut r), Ok(1));
    assert_eq!(r.contiguous(), &ch[..]);
}

/// A Google QUIC client packet: flags, 8-byte CID, version, 1-byte
/// packet number, hash, (private flags,) then `frames`.
fn gquic_packet(flags: u8, version: &[u8; 4], frames: &[u8]) -> Vec<u8> {
    let mut p = vec![flags];
    p.extend_from_slice(&[0x12; 8]);
    p.extend_from_slice(version);
    p.push(1);
    p.extend_from_slice(&[0xab; 12]);
    let n = (version[2] - b'0') * 10 + (version[3] - b'0');
    if n < 34 {
        p.push(0x01);
    }
    p.extend_from_slice(frames);
    p
}

/// A CHLO with PAD, SNI and VER tags.
fn chlo(sni: &[u8]) -> Vec<u8> {
    let tags: [(&[u8; 4], Vec<u8>); 3] = [
        (b"PAD\0", vec![b'-'; 20]),
        (b"SNI\0", sni.to_vec()),
        (b"VER\0", b"Q035".to_vec()),
    ];
    let mut m = b"CHLO".to_vec();
    m.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    m.extend_from_slice(&[0, 0]);
    let mut end = 0u32;
    for (t, v) in &tags {
        end += v.len() as u32;
        m.extend_from_slice(&t[..]);
        m.extend_from_slice(&end.to_le_bytes());
    }
    for (_, v) in &tags {
        m.extend_from_slice(v);
    }
    m
}

/// A STREAM frame on stream 1 at offset 0 with a 2-byte data length.
fn stream1(data: &[u8], big_endian: bool) -> Vec<u8> {
    let mut f = vec![0xa0, 0x01];
    let len = data.len() as u16;
    f.extend_from_slice(&if big_endian {
        len.to_be_bytes()
    } else {
        len.to_le_bytes()
    });
    f.extend_from_slice(data);
    f
}

#[test]
fn gquic_sni() {
    let m = chlo(b"www.example.org");
    for (flags, v) in [
        (0x0d, b"Q024"),
        (0x0d, b"Q033"),
        (0x09, b"Q035"),
        (0x0d, b"Q037"),
    ] {
        let p = gquic_packet(flags, v, &stream1(&m, false));
        assert_eq!(gquic_chlo_sni(&p), Some(&b"www.example.org"[..]), "{v:?}");
    }
    let p = gquic_packet(0x0d, b"Q043", &stream1(&m, true));
    assert_eq!(gquic_chlo_sni(&p), Some(&b"www.example.org"[..]));
    // Little-endian length on a big-endian version: wrong length.
    let p = gquic_packet(0x0d, b"Q043", &stream1(&m, false));
    assert_eq!(gquic_chlo_sni(&p), None);
    // PING and STOP_WAITING before the STREAM frame.
    let mut f = vec![0x07, 0x06, 0x00];
    f.extend_from_slice(&stream1(&m, false));
    assert!(gquic_chlo_sni(&gquic_packet(0x0c | 0x01, b"Q035", &f)).is_some());
    // Without a data length the stream data runs to the end.
    let mut f = vec![0x80, 0x01];
    f.extend_from_slice(&m);
    assert!(gquic_chlo_sni(&gquic_packet(0x0d, b"Q039", &f)).is_some());
    // Another stream, another message, no version flag, unknown version.
    let mut f = stream1(&m, false);
    f[1] = 3;
    assert_eq!(gquic_chlo_sni(&gquic_packet(0x0d, b"Q035", &f)), None);
    let mut shlo = m.clone();
    shlo[..4].copy_from_slice(b"SHLO");
    let p = gquic_packet(0x0d, b"Q035", &stream1(&shlo, false));
    assert_eq!(gquic_chlo_sni(&p), None);
    let p = gquic_packet(0x0c, b"Q035", &stream1(&m, false));
    assert_eq!(gquic_chlo_sni(&p), None);
    let p = gquic_packet(0x0d, b"Q050", &stream1(&m, false));
    assert_eq!(gquic_chlo_sni(&p), None);
    // An empty SNI is none.
    let p = gquic_packet(0x0d, b"Q035", &stream1(&chlo(b""), false));
    assert_eq!(gquic_chlo_sni(&p), None);
}

#[test]
fn gquic_truncation_never_panics() {
    let m = chlo(b"host.example");
    let p = gquic_packet(0x0d, b"Q035", &stream1(&m, false));
    assert!(gquic_chlo_sni(&p).is_some());
    for n in 0..p.len() {
        assert_eq!(gquic_chlo_sni(&p[..n]), None, "{n} bytes");
    }
    // Tag end offsets going backwards.
    let mut bad = m.clone();
    bad[12..16].copy_from_slice(&100u32.to_le_bytes());
    let p = gquic_packet(0x0d, b"Q035", &stream1(&bad, false));
    assert_eq!(gquic_chlo_sni(&p), None);
}

#[test]
fn ietf_initial_is_not_gquic() {
    assert_eq!(gquic_chlo_sni(&unhex(V1_CLIENT_INITIAL)), None);
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(d in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let mut scratch = Scratch::default();
        let mut reasm = CryptoReasm::new();
        let _ = client_initial_crypto(&d, &mut scratch, |o, b| reasm.add(o, b));
        let _ = client_initial_crypto_with(&d, &[1; 8], &mut scratch, |o, b| reasm.add(o, b));
        let _ = initial_dcid(&d);
        let _ = gquic_chlo_sni(&d);
    }

    #[test]
    fn long_headers_never_panic(
        ty in 0u8..4,
        version in prop::sample::select(vec![
            VERSION_1, VERSION_2, 0xff00_001d, 0xff00_001b, mvfst::MVFST, 0x1a2a_3a4a, 0x1234_5678,
        ]),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut d = vec![0xc0 | (ty << 4)];
        d.extend_from_slice(&version.to_be_bytes());
        d.extend_from_slice(&tail);
        let mut scratch = Scratch::default();
        let _ = client_initial_crypto(&d, &mut scratch, |_, _| {});
    }

    #[test]
    fn mutated_initials_never_panic(at in 0usize..1200, x in 1u8..=255, cut in 0usize..1200) {
        let mut p = unhex(V1_CLIENT_INITIAL);
        p[at] ^= x;
        p.truncate(cut.max(1));
        let mut scratch = Scratch::default();
        let _ = client_initial_crypto(&p, &mut scratch, |_, _| {});
        let _ = client_initial_crypto_with(&p, &[0x83; 8], &mut scratch, |_, _| {});
    }

    #[test]
    fn mutated_chlo_never_panics(at in 0usize..100, x in 1u8..=255, cut in 0usize..100) {
        let mut p = gquic_packet(0x0d, b"Q035", &stream1(&chlo(b"a.example"), false));
        let at = at % p.len();
        p[at] ^= x;
        p.truncate(cut % (p.len() + 1));
        let _ = gquic_chlo_sni(&p);
    }

    #[test]
    fn reasm_any_order(cuts in proptest::collection::vec(0usize..2000, 0..12), seed in any::<u64>()) {
        let msg: Vec<u8> = (0..2000u32).map(|i| (i % 253) as u8).collect();
        let mut bounds = cuts;
        bounds.push(0);
        bounds.push(msg.len());
        bounds.sort_unstable();
        let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        // A deterministic shuffle.
        let mut s = seed | 1;
        for i in (1..pieces.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            pieces.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let mut r = CryptoReasm::new();
        for &(a, b) in &pieces {
            r.add(a as u64, &msg[a..b]);
            prop_assert_eq!(r.contiguous(), &msg[..r.contiguous().len()]);
        }
        prop_assert_eq!(r.contiguous(), &msg[..]);
    }
}
