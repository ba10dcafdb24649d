"""The appliance image (image/) and the Buildroot tree (buildroot/).

Marked `image`: these build the Debian-based image (image/build, a few
minutes) and boot it in QEMU (image/test-boot, a few more). They need root
(mmdebstrap's root mode) and the packages of `scripts/deps image`.
The Buildroot checks need no build: the Kconfig files are parsed with
kconfiglib (the Kconfig language Buildroot uses), the genimage
configuration is run with genimage on stand-in partition files, and the
board scripts are checked with shellcheck.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import REPO, tapscope_bin

pytestmark = pytest.mark.image

IMAGE = REPO / "image"
BR = REPO / "buildroot"
MIB = 1 << 20


def sfdisk_json(path):
    out = subprocess.run(["sfdisk", "--json", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["partitiontable"]


def layout(path):
    """The partition table: what must be the same in both images."""
    t = sfdisk_json(path)
    size = os.stat(path).st_size
    parts = [(p["start"], p["size"], p["type"].upper(), p.get("name", "")) for p in t["partitions"]]
    return t["label"], t.get("sectorsize", 512), size, parts


@pytest.fixture(scope="session")
def built_image(tmp_path_factory):
    """image/build with the test's tapscope binary and a build-time key."""
    if os.geteuid() != 0:
        pytest.fail("the image tests run as root (mmdebstrap --mode=root), as CI does")
    work = tmp_path_factory.mktemp("image")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "build-time",
                    "-f", str(work / "buildkey")], check=True)
    out = work / "out"
    p = subprocess.run([str(IMAGE / "build"), "--binary", str(tapscope_bin()), "--out", str(out),
                        "--authorized-keys", str(work / "buildkey.pub")],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise AssertionError(f"image/build failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return out / "tapscope-x86_64.img", work / "buildkey.pub"


def read_root_file(image, path):
    """A file of the image's root file system, read with debugfs (no mount)."""
    start, size = [(s, n) for s, n, _, name in layout(image)[3] if name == "tapscope-root"][0]
    p = subprocess.run(["debugfs", "-R", f"cat {path}", f"{image}?offset={start * 512}"],
                       capture_output=True, timeout=60)
    return p.stdout


def test_image_layout_and_contents(built_image):
    image, key = built_image
    label, sector, size, parts = layout(image)
    assert label == "gpt" and sector == 512
    assert [name for *_, name in parts] == ["tapscope-esp", "tapscope-root", "tapscope-data"]
    assert parts[0][0] * 512 == MIB and parts[0][1] * 512 == 256 * MIB
    assert parts[0][2] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"  # EFI system partition
    assert parts[1][1] * 512 == 1536 * MIB
    assert parts[2][1] * 512 == 64 * MIB
    # The build-time key is in the root file system, where sshd looks.
    assert read_root_file(image, "/etc/ssh/authorized_keys/admin") == key.read_bytes()
    # Each appliance makes its own host keys and machine id on first boot.
    assert read_root_file(image, "/etc/machine-id") == b""
    assert read_root_file(image, "/etc/ssh/ssh_host_ed25519_key") == b""
    assert read_root_file(image, "/usr/bin/tapscope") == tapscope_bin().read_bytes()
    shadow = read_root_file(image, "/etc/shadow").decode()
    pw = {line.split(":")[0]: line.split(":")[1] for line in shadow.splitlines()}
    assert pw["root"] == "!" and pw["admin"] == "*", "no password may log in"


def test_image_boots_captures_and_serves_parquet(built_image):
    image, _ = built_image
    p = subprocess.run([str(IMAGE / "test-boot"), "--image", str(image),
                        "--work", str(image.parent / "test-boot")],
                       capture_output=True, text=True, timeout=1800)
    print(p.stdout[-6000:])
    assert p.returncode == 0, f"image/test-boot failed:\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"


def test_named_mirror_nic_stays_silent(built_image):
    """capture.interface named on the boot partition: an e1000e (generic XDP)
    mirror NIC that sends not one frame from power-on, and captures."""
    image, _ = built_image
    p = subprocess.run([str(IMAGE / "test-boot"), "--image", str(image), "--name-mirror",
                        "--work", str(image.parent / "test-boot-named")],
                       capture_output=True, text=True, timeout=1800)
    print(p.stdout[-6000:])
    assert p.returncode == 0, f"image/test-boot --name-mirror failed:\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"


def test_buildroot_genimage_layout_matches_image(built_image, tmp_path):
    """buildroot/board/tapscope/genimage.cfg gives the image/build layout."""
    image, _ = built_image
    inp = tmp_path / "images"
    (inp / "efi-part" / "EFI" / "BOOT").mkdir(parents=True)
    (inp / "efi-part" / "EFI" / "BOOT" / "bootx64.efi").write_bytes(b"\0" * 4096)
    (inp / "efi-part" / "README.txt").write_text("x")
    (inp / "efi-part" / "tapscope.toml.example").write_text("x")
    (inp / "bzImage").write_bytes(b"\0" * 4096)
    for name, mib in (("rootfs.ext4", 8), ("data.ext4", 8)):
        subprocess.run(["mke2fs", "-q", "-t", "ext4", str(inp / name), f"{mib}M"], check=True)
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["genimage", "--config", str(BR / "board/tapscope/genimage.cfg"),
                    "--inputpath", str(inp), "--outputpath", str(tmp_path / "out"),
                    "--tmppath", str(tmp_path / "tmp"), "--rootpath", str(root)],
                   check=True, capture_output=True, timeout=300)
    br = layout(tmp_path / "out" / "tapscope-x86_64.img")
    deb = layout(image)
    assert br == deb, f"Buildroot layout {br}\n!= image/build layout {deb}"


# Buildroot symbols our Kconfig files and defconfig use, checked against
# Buildroot's own Config.in files (2024.02 to 2025.x). The test declares them
# so that kconfiglib can evaluate our tree as Buildroot would.
BUILDROOT_BOOLS = {
    "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS": "y",
    "BR2_USE_MMU": "y",
    "BR2_TOOLCHAIN_USES_GLIBC": "y",
    "BR2_USE_WCHAR": "y",
    "BR2_STATIC_LIBS": "n",
    "BR2_TOOLCHAIN_HAS_THREADS": "y",
    "BR2_TOOLCHAIN_HEADERS_AT_LEAST_5_4": "y",
    "BR2_PACKAGE_HOST_RUSTC": "n",
    "BR2_PACKAGE_ELFUTILS": "n",
    "BR2_PACKAGE_ZLIB": "n",
}


def kconfig(tmp_path, defaults):
    import kconfiglib

    top = tmp_path / "Config.in"
    stubs = "".join(
        f'config {s}\n\tbool "{s}"\n\tdefault {v}\n\n' for s, v in defaults.items())
    # What Buildroot generates for a BR2_EXTERNAL tree (.br2-external.in).
    top.write_text(
        'mainmenu "Buildroot stand-in"\n\n' + stubs +
        'menu "External options"\n'
        f'comment "TAPSCOPE ({BR})"\n'
        "config BR2_EXTERNAL_TAPSCOPE_PATH\n\tstring\n"
        f'\tdefault "{BR}"\n'
        'source "$BR2_EXTERNAL_TAPSCOPE_PATH/Config.in"\n'
        "endmenu\n")
    os.environ["BR2_EXTERNAL_TAPSCOPE_PATH"] = str(BR)
    os.environ["CONFIG_"] = ""  # Buildroot's symbols carry no CONFIG_ prefix
    return kconfiglib.Kconfig(str(top), warn_to_stderr=False)


def test_buildroot_kconfig_parses_and_defconfig_selects_tapscope(tmp_path):
    kconf = kconfig(tmp_path, BUILDROOT_BOOLS)
    assert kconf.warnings == [], kconf.warnings
    sym = kconf.syms["BR2_PACKAGE_TAPSCOPE"]
    assert sym.nodes and sym.nodes[0].filename.endswith("package/tapscope/Config.in")
    # Every symbol our Config.in files mention is ours or one of Buildroot's
    # above (a symbol referenced but defined nowhere has no menu node).
    undefined = sorted(s.name for s in kconf.syms.values() if not s.nodes and s.name != "MODULES")
    assert undefined == [], f"symbols Buildroot does not define here: {undefined}"
    # Loading the defconfig: its TAPSCOPE symbol sticks (dependencies met)
    # and pulls in what tapscope needs.
    kconf.load_config(str(BR / "configs/tapscope_x86_64_defconfig"), replace=True)
    assert kconf.warnings == [], kconf.warnings
    assert sym.str_value == "y"
    for selected in ("BR2_PACKAGE_HOST_RUSTC", "BR2_PACKAGE_ELFUTILS", "BR2_PACKAGE_ZLIB"):
        assert kconf.syms[selected].str_value == "y", selected
    # Without a glibc toolchain tapscope cannot be chosen.
    kconf2 = kconfig(tmp_path, {**BUILDROOT_BOOLS, "BR2_TOOLCHAIN_USES_GLIBC": "n"})
    kconf2.load_config(str(BR / "configs/tapscope_x86_64_defconfig"), replace=True)
    assert kconf2.syms["BR2_PACKAGE_TAPSCOPE"].str_value == "n"


def test_buildroot_tree_follows_the_manual():
    desc = (BR / "external.desc").read_text()
    assert re.search(r"^name: TAPSCOPE$", desc, re.M)
    assert "$(BR2_EXTERNAL_TAPSCOPE_PATH)/package/*/*.mk" in (BR / "external.mk").read_text()
    mk = (BR / "package/tapscope/tapscope.mk").read_text()
    assert "$(eval $(cargo-package))" in mk
    assert "TAPSCOPE_SITE_METHOD = local" in mk
    assert "TAPSCOPE_SUBDIR = appliance" in mk
    assert (REPO / "appliance/Cargo.toml").read_text().startswith('[package]\nname = "tapscope"')
    # Paths in the defconfig and scripts exist in this tree.
    defconfig = (BR / "configs/tapscope_x86_64_defconfig").read_text()
    for path in re.findall(r"\$\(BR2_EXTERNAL_TAPSCOPE_PATH\)/([^\" ]+)", defconfig):
        assert (BR / path).exists(), path
    for line in defconfig.splitlines():
        assert not line or line.startswith("#") or re.fullmatch(r"BR2_\w+=(y|\".*\")", line), line


def test_scripts_pass_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck missing: scripts/deps image installs it")
    sh = [IMAGE / "build", IMAGE / "customize", BR / "board/tapscope/post-build.sh",
          BR / "board/tapscope/post-image.sh"]
    sh += sorted((IMAGE / "rootfs/usr/lib/tapscope").iterdir())
    p = subprocess.run(["shellcheck", "-x", *map(str, sh)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout
