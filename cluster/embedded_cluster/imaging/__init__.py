"""The image builders, apart from the cluster's lifecycle: a debootstrap Debian base image
(``base_image``), the project's own images from the top-level Dockerfile (``project_image``),
single-layer OCI archives of static binaries (``oci``), and kind's base and node images
(``kind_base``, ``kind_node``). Nothing here starts or stops the cluster; ``images`` imports
what these build into the running cluster."""
