# shellcheck shell=bash
# Sourced inside the test guest (see vm.sh): what every in-guest script
# loads before trustmig.ko.

# KVM with nested SVM: -cpu max exposes SVM under TCG; ccp must come
# before kvm_amd (which uses it for SEV) and kvm_intel would refuse the
# emulated CPU.  Prints modprobe's complaints; the caller judges.
guest_load_kvm() {
	modprobe ccp 2>/dev/null || true
	modprobe kvm && modprobe kvm_amd nested=1
}

# The AEAD implementations trustmig asks the crypto API for.  The kernel
# would load them on demand; loading them first keeps the accelerated
# ones preferred.  Prints the names of those that loaded.
guest_load_crypto() {
	local m
	for m in gcm ghash_clmulni_intel aesni_intel chacha20poly1305 \
		chacha_x86_64 poly1305_x86_64; do
		modprobe -q "$m" 2>/dev/null && printf '%s ' "$m"
	done
	echo
}
