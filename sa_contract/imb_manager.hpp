#pragma once
// One Intel IPsec-MB manager. Each thread that hashes owns one (the library's managers
// are not thread-safe); the best instruction set the CPU has is picked at start.
#include <expected>
#include <memory>
#include <string>

struct IMB_MGR;

namespace pcscf::esp {

class ImbManager {
public:
    static std::expected<ImbManager, std::string> create();
    IMB_MGR* get() const noexcept { return mgr_.get(); }
    std::string arch_name() const;

private:
    struct Free {
        void operator()(IMB_MGR* m) const noexcept;
    };
    explicit ImbManager(IMB_MGR* m) : mgr_(m) {}
    std::unique_ptr<IMB_MGR, Free> mgr_;
};

}  // namespace pcscf::esp
