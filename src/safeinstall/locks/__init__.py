"""Lock files: targets to lock for, locks to write, and the five lock formats to read.

* :mod:`~safeinstall.locks.model`: the lock as written (:class:`~.model.Lock`) and as read
  (:class:`~.model.ReadLock`: name, version and the sha256 of every file each entry trusts).
* :mod:`~safeinstall.locks.targets`: target labels and the markers that tell targets apart.
* :mod:`~safeinstall.locks.builder`: resolving from on-time files (``OnTimeFinder``) and
  merging one checked resolution per target into a lock (``build_lock``).
* :mod:`~safeinstall.locks.writer`: the hashed requirements file, the build-constraints file
  and the PEP 751 ``pylock.toml``.
* :mod:`~safeinstall.locks.reader`: ``read_lock`` and the registry of readers, one module per
  format: :mod:`~.requirements`, :mod:`~.pylock` (also what ``pip install -r pylock.toml``
  selects, and the checks of its local archives), :mod:`~.pipfile`, :mod:`~.poetry`,
  :mod:`~.uv`; their shared parsing helpers are in :mod:`~safeinstall.locks._parse`.

Nothing here prints or exits; errors are ``SafeInstallError`` subclasses that name the file.
Importing this package imports none of its modules.
"""
