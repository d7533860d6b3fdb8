# pkg/module.mk: man pages, pkg-config file, bash completion; make install
# and make uninstall (docs/tools.md, "Installing").
#
#   make man          $(BUILD)/man/vcr.1 and vcr-CMD.1, from `vcr help` and
#                     `vcr CMD --help` (pkg/mkman.py): the help texts in cli/
#                     are the only source, so the pages cannot drift
#   make install      PREFIX=/usr/local DESTDIR= (also BINDIR, LIBDIR, ...)
#   make uninstall    removes exactly the files install puts there
#
# A module whose library is installed appends it, e.g.
#   INSTALL_LIBS += $(BUILD)/libvcr-foo.a
# and gets it built by install and installed into $(LIBDIR); a library vcr
# loads itself goes into INSTALL_PRIVLIBS, installed into $(LIBDIR)/vcr
# (vcr record looks for libvcr-preload.so in ../lib/vcr/ beside vcr); the install
# rule's prerequisites are expanded a second time, after every module.mk is
# read, so the order of inclusion does not matter.

BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/vcr
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions

INSTALL_LIBS := $(LIB)
INSTALL_PRIVLIBS := $(PRELOAD)

# The public headers: formats/trace.h and everything it includes, installed
# under $(INCLUDEDIR)/vcr/ so that their own "core/x.h" includes resolve
# with -I$(INCLUDEDIR)/vcr (libvcr.pc). tests/host/install.sh compiles each
# of them alone against the installed tree.
INSTALL_HEADERS := formats/trace.h core/state.h core/regs.h core/util.h core/end.h core/mem.h
INSTALL_DOCS := README.md $(wildcard docs/*.md)

PKG_MAN_STAMP := $(BUILD)/man/.stamp
PKG_PC := $(BUILD)/pkg/libvcr.pc

$(PKG_MAN_STAMP): $(VCR) pkg/mkman.py
	@$(if $(Q),echo "  MAN     $(dir $@)")
	$(Q)pkg/mkman.py $(VCR) $(dir $@)
	$(Q)touch $@

# The .pc carries install paths, so it is made by install with the PREFIX of
# that make install; the FORCE keeps a stale one from an other PREFIX out.
$(PKG_PC): pkg/libvcr.pc.in core/util.h FORCE
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@CAPSTONE_LIBS@|$(CAPSTONE_LIBS)|' \
		-e "s|@VERSION@|$$(sed -n 's/^#define VCR_VERSION "\(.*\)"/\1/p' core/util.h)|" \
		$< > $@.tmp && mv $@.tmp $@

ALL_TARGETS += $(PKG_MAN_STAMP)

.PHONY: man install uninstall FORCE
man: $(PKG_MAN_STAMP)
FORCE:

# What is installed, one "SOURCE DIRECTORY MODE" per line; install and
# uninstall both walk this list (the man pages are read from $(BUILD)/man
# when the recipe runs, after mkman.py made them).
pkg_files = $(VCR) $(BINDIR) 755 \
	$(foreach l,$(INSTALL_LIBS),$(l) $(LIBDIR) 644) \
	$(foreach l,$(INSTALL_PRIVLIBS),$(l) $(LIBDIR)/vcr 755) \
	$(foreach h,$(INSTALL_HEADERS),$(h) $(INCLUDEDIR)/vcr/$(dir $(h)) 644) \
	$(PKG_PC) $(PKGCONFIGDIR) 644 \
	pkg/vcr.bash-completion $(BASHCOMPDIR) 644 \
	$(foreach d,$(INSTALL_DOCS),$(d) $(DOCDIR) 644)

# Walks pkg_files and the man pages: $(1) is run with src dir mode dest.
define pkg_walk
	set -e; set -- $(pkg_files) $$(for m in $(BUILD)/man/*.1; do echo $$m $(MANDIR)/man1 644; done); \
	while [ $$# -ge 3 ]; do \
		src=$$1 dir=$(DESTDIR)$$2 mode=$$3; shift 3; \
		case $$src in pkg/vcr.bash-completion) name=vcr;; *) name=$${src##*/};; esac; \
		$(1); \
	done
endef

.SECONDEXPANSION:
install: $(VCR) $$(INSTALL_LIBS) $$(INSTALL_PRIVLIBS) $(PKG_MAN_STAMP) $(PKG_PC)
	$(Q)$(call pkg_walk,install -d "$$dir" && install -m "$$mode" "$$src" "$$dir/$$name")

uninstall: $(PKG_MAN_STAMP)
	$(Q)$(call pkg_walk,rm -f "$$dir/$$name")
	$(Q)for d in $(DESTDIR)$(INCLUDEDIR)/vcr/* $(DESTDIR)$(INCLUDEDIR)/vcr $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LIBDIR)/vcr; do \
		[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; done
