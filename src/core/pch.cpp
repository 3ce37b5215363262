// Translation unit that builds the shared precompiled header (src/core/pch.h).
