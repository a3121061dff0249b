/* The map of Germany draws only the bundled Länder (germany_states.geo.json, fetched from this server): no land,
   coasts or countries under them. plotly.js still asks for its basemap topology as soon as a map trace has a
   `locationmode`, and would download it from cdn.plot.ly; an empty topology under the name the map's scope and
   resolution give (figures.GEO_TOPOLOGY) keeps every byte local. plotly.js keeps an existing PlotlyGeoAssets. */
window.PlotlyGeoAssets = window.PlotlyGeoAssets || { topojson: {} };
window.PlotlyGeoAssets.topojson = window.PlotlyGeoAssets.topojson || {};
window.PlotlyGeoAssets.topojson["europe_50m"] = { type: "Topology", objects: {}, arcs: [] };
