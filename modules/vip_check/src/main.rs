fn main() {
    kubeha_runtime::run::<vip_check::VipCheck>()
}
