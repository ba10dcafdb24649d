################################################################################
#
# tapscope
#
################################################################################

# The source is this repository (the folder above the BR2_EXTERNAL tree),
# copied into the build folder; the workspace's Cargo.lock pins every crate.
TAPSCOPE_VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(BR2_EXTERNAL_TAPSCOPE_PATH)/../Cargo.toml | head -n 1)
TAPSCOPE_SITE = $(BR2_EXTERNAL_TAPSCOPE_PATH)/..
TAPSCOPE_SITE_METHOD = local
TAPSCOPE_LICENSE = Apache-2.0
# Cargo.toml of the package that builds the `tapscope` binary (a workspace
# member): cargo build and cargo install run in this folder.
TAPSCOPE_SUBDIR = appliance

# host-clang/host-llvm: libxdp-sys and libbpf-sys build libxdp and libbpf
# with make (xdp-tools' configure looks for clang, llc, m4, pkg-config)
# and compile libxdp's BPF programs with clang; bindgen loads libclang.
TAPSCOPE_DEPENDENCIES = host-clang host-llvm host-pkgconf host-m4 elfutils zlib

TAPSCOPE_CARGO_ENV = \
	LIBCLANG_PATH=$(HOST_DIR)/lib \
	BINDGEN_EXTRA_CLANG_ARGS="--sysroot=$(STAGING_DIR)" \
	PKG_CONFIG_ALLOW_CROSS=1 \
	CLANG=$(HOST_DIR)/bin/clang \
	LLC=$(HOST_DIR)/bin/llc

# The local site method skips Buildroot's download step, where crates are
# vendored for other cargo packages: vendor them before the build (this
# needs network access to crates.io; host-rustc is built by then), so the
# build itself runs --offline.
define TAPSCOPE_CARGO_VENDOR
	cd $(@D) && mkdir -p .cargo && \
	$(HOST_MAKE_ENV) $(PKG_COMMON_CARGO_ENV) \
		cargo vendor --locked --manifest-path Cargo.toml VENDOR \
		> .cargo/config.toml
endef
TAPSCOPE_PRE_CONFIGURE_HOOKS += TAPSCOPE_CARGO_VENDOR

# Local build outputs of a developer's checkout are not part of the source.
TAPSCOPE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /image/out --exclude /.git

$(eval $(cargo-package))
