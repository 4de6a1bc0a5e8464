#pragma once
// The whole SIP library: parse (message.hpp, stream_framer.hpp), read typed values
// (accessors.hpp and the value parsers), write (writer.hpp, security.hpp formatting).

#include "sip/accessors.hpp"
#include "sip/auth.hpp"
#include "sip/error.hpp"
#include "sip/header_kind.hpp"
#include "sip/limits.hpp"
#include "sip/message.hpp"
#include "sip/name_addr.hpp"
#include "sip/params.hpp"
#include "sip/scalar.hpp"
#include "sip/security.hpp"
#include "sip/stream_framer.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip/via.hpp"
#include "sip/writer.hpp"
