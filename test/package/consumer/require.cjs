// A CommonJS user: require('tsinfer') works where Node loads ES modules from require()
// (process.features.require_module: Node >= 20.19 / 22.12), else Node says to use import().
try {
  const t = require('tsinfer');
  console.log(JSON.stringify({ required: typeof t.loadModel }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message }));
}
