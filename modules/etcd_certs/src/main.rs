fn main() {
    kubeha_runtime::run::<etcd_certs::EtcdCerts>()
}
